import { hostname } from 'node:os';
import { ElectorHarnesses } from '../../testing/elector-harness';
import { EXPIRED_AT_MS } from '../../testing/memory-lease-store';
import type { ElectionEvent, ElectionTiming, ElectorLogger } from './election-state';
import { generateCandidateId, LeaderElector } from './leader-elector';

const TIMING: ElectionTiming = {
  leaseDurationMs: 10_000,
  renewIntervalMs: 2_000,
  pollIntervalMs: 2_000,
  safetyMarginMs: 1_000,
};
const P = TIMING.pollIntervalMs;

const silentLogger: ElectorLogger = { log: () => {}, warn: () => {}, error: () => {} };

// The safety invariant of every election (at most one leader, backed by its lease) is checked at every
// timer and asserted after each test.
const harnesses = new ElectorHarnesses();
afterEach(() => harnesses.assertNoViolations());

function setup(latencyMs = 10) {
  const h = harnesses.create({ timing: TIMING, store: { latencyMs } });
  const { clock, store } = h;
  const elector = (candidateId: string, createTable = true, elections = ['default', 'billing-jobs']) => {
    const e = new LeaderElector({
      store,
      elections,
      candidateId,
      timing: TIMING,
      createTable,
      logger: silentLogger,
      clock: clock.process(),
      random: () => 0.5,
    });
    h.watchElector(candidateId, e);
    return e;
  };
  const leads = (e: LeaderElector, name: string) => e.election(name)?.isLeader() ?? false;
  return { clock, store, elector, leads };
}

describe('LeaderElector', () => {
  it('warmUp() runs the schema setup before start(), in the background, and the first step does not repeat it', async () => {
    const { clock, store, elector, leads } = setup();
    const x = elector('x');
    x.warmUp();
    await clock.advance(50);
    expect(store.find({ kind: 'ensureSchema' }).map((s) => s.status)).toEqual(['ok']);
    expect(store.find({ kind: 'ensureRow' })).toEqual([]);

    x.start();
    await clock.advance(P);
    expect(leads(x, 'default')).toBe(true);
    expect(store.find({ kind: 'ensureSchema' })).toHaveLength(1);
  });

  it('a warmUp() that fails throws nowhere; the first step runs the schema setup again', async () => {
    const { clock, store, elector, leads } = setup();
    store.failNext(1, 'unreachable', { match: { kind: 'ensureSchema' } });
    const x = elector('x');
    x.warmUp();
    await clock.advance(50);
    x.start();
    await clock.advance(2 * P);
    expect(leads(x, 'default')).toBe(true);
    expect(store.find({ kind: 'ensureSchema' }).map((s) => s.status)).toEqual(['failed', 'ok']);
  });

  it('runs the schema setup once for all of its elections, and again after it failed', async () => {
    const { clock, store, elector, leads } = setup();
    store.failNext(1, 'unreachable', { match: { kind: 'ensureSchema' } });
    const x = elector('x');
    x.start();
    await clock.advance(2 * P);

    expect(leads(x, 'default')).toBe(true);
    expect(leads(x, 'billing-jobs')).toBe(true);
    expect(store.find({ kind: 'ensureSchema' }).map((s) => s.status)).toEqual(['failed', 'ok']);
    expect(
      store
        .find({ kind: 'ensureRow' })
        .map((s) => s.name)
        .sort(),
    ).toEqual(['billing-jobs', 'default']);
  });

  it('skips the schema setup when the user manages the table (createTable: false)', async () => {
    const { clock, store, elector, leads } = setup();
    const x = elector('x', false);
    x.start();
    await clock.advance(P);
    expect(leads(x, 'default')).toBe(true);
    expect(store.find({ kind: 'ensureSchema' })).toEqual([]);
  });

  it('takes part in each election independently: resigning one leaves the other led', async () => {
    const { clock, elector, leads } = setup();
    const x = elector('x');
    const y = elector('y');
    const events: ElectionEvent[] = [];
    x.onEvent((event) => events.push(event));
    x.start();
    await clock.advance(100);
    y.start();
    await clock.advance(P);
    expect([leads(x, 'default'), leads(x, 'billing-jobs')]).toEqual([true, true]);

    const resigned = x.election('billing-jobs')!.resign();
    await clock.advance(10);
    expect(await resigned).toBe(true);
    await clock.advance(P + 100);

    expect(leads(x, 'default')).toBe(true);
    expect(leads(x, 'billing-jobs')).toBe(false);
    expect(leads(y, 'billing-jobs')).toBe(true);
    expect(leads(y, 'default')).toBe(false);
    expect(
      events
        .filter((event) => event.type === 'elected' || event.type === 'revoked')
        .map((event) => [event.election, event.type, event.term]),
    ).toEqual([
      ['default', 'elected', 1],
      ['billing-jobs', 'elected', 1],
      ['billing-jobs', 'revoked', 1],
    ]);
  });

  it('stop() releases every lease it holds and closes the store; the other candidate takes both within P', async () => {
    const { clock, store, elector, leads } = setup();
    const x = elector('x');
    const y = elector('y');
    x.start();
    await clock.advance(100);
    y.start();
    await clock.advance(3 * P);

    x.beginShutdown();
    expect(leads(x, 'default') || leads(x, 'billing-jobs')).toBe(false);
    const stopped = x.stop();
    await clock.advance(20);
    await stopped;
    expect(store.closeCount).toBe(1);
    expect(store.row('default')).toMatchObject({ holder: 'x', term: 1, expiresAt: EXPIRED_AT_MS });
    expect(store.row('billing-jobs')).toMatchObject({ holder: 'x', term: 1, expiresAt: EXPIRED_AT_MS });

    await clock.advance(P + 50);
    expect([leads(y, 'default'), leads(y, 'billing-jobs')]).toEqual([true, true]);
    expect(store.row('default')).toMatchObject({ holder: 'y', term: 2 });
  });

  it('100 elections in one process: their regular steps run as one round per grid point, one timer and one statement for all, and the leases a round renewed share one step-down timer', async () => {
    const h = harnesses.create({ timing: TIMING, store: { latencyMs: 10, batching: true } });
    const names = Array.from({ length: 100 }, (_, i) => `e${i}`);
    const make = (candidateId: string) => {
      const clock = h.clock.process();
      const e = new LeaderElector({
        store: h.store,
        elections: names,
        candidateId,
        timing: TIMING,
        createTable: true,
        logger: silentLogger,
        clock,
        random: () => 0.5,
      });
      h.watchElector(candidateId, e);
      return { e, clock };
    };
    const leader = make('x');
    const follower = make('y');
    leader.e.start();
    await h.clock.advance(100);
    follower.e.start();
    await h.clock.advance(3 * P);
    expect(names.every((name) => leader.e.election(name)?.isLeader())).toBe(true);

    const timers = (clock: typeof leader.clock) => jest.spyOn(clock, 'setTimeout');
    const leaderTimers = timers(leader.clock);
    const followerTimers = timers(follower.clock);
    const statements = h.store.statements.length;
    await h.clock.advance(60_000);
    const sent = h.store.statements.slice(statements);
    const of = (kind: string) => sent.filter((s) => s.kind === kind);
    // One renewal of all 100 per R (the leader's), one read of all 100 per P (the follower's), nothing
    // else: no statement of an election of its own.
    expect(of('renewMany').length).toBeGreaterThanOrEqual(60_000 / TIMING.renewIntervalMs - 1);
    expect(of('renewMany').every((s) => s.holder === 'x' && s.names?.length === 100)).toBe(true);
    expect(of('readMany').length).toBeGreaterThanOrEqual(60_000 / P - 1);
    expect(of('readMany').every((s) => s.names?.length === 100)).toBe(true);
    expect(sent.filter((s) => s.kind !== 'renewMany' && s.kind !== 'readMany')).toEqual([]);
    // The leader's timers: one per round, plus one step-down timer once per lease for all 100 elections
    // (their deadlines fall together), not one per election.
    const rounds = 60_000 / TIMING.renewIntervalMs;
    const deadlines = Math.ceil(
      60_000 / (TIMING.leaseDurationMs - TIMING.safetyMarginMs - TIMING.renewIntervalMs),
    );
    expect(leaderTimers.mock.calls.length).toBeLessThanOrEqual(2 * (rounds + 1) + deadlines);
    expect(followerTimers.mock.calls.length).toBeLessThanOrEqual(2 * (60_000 / P + 1));
    expect(names.every((name) => leader.e.election(name)?.isLeader())).toBe(true);
  });

  it('a round renewal that failed (not applied) reaches every election of the round: each retries before its deadline, and none steps down', async () => {
    const h = harnesses.create({ timing: TIMING, store: { latencyMs: 10, batching: true } });
    const names = Array.from({ length: 20 }, (_, i) => `e${i}`);
    const e = new LeaderElector({
      store: h.store,
      elections: names,
      candidateId: 'x',
      timing: TIMING,
      createTable: true,
      logger: silentLogger,
      clock: h.clock.process(),
      random: () => 0.5,
    });
    h.watchElector('x', e);
    const revoked: string[] = [];
    e.onEvent((event) => {
      if (event.type === 'revoked') revoked.push(event.election);
    });
    e.start();
    await h.clock.advance(3 * P);
    expect(names.every((name) => e.election(name)?.isLeader())).toBe(true);
    h.store.failNext(1, 'not-applied', { match: { kind: 'renewMany' } });
    const failedAt = h.store.statements.length;
    await h.clock.advance(3 * TIMING.renewIntervalMs);
    const after = h.store.statements.slice(failedAt);
    expect(after.filter((s) => s.status === 'failed')).toHaveLength(1);
    // Everyone's state recorded the failure, and everyone renewed again afterwards.
    expect(
      after.filter((s) => s.status === 'ok' && (s.kind === 'renewMany' || s.kind === 'renew')).length,
    ).toBeGreaterThan(0);
    expect(revoked).toEqual([]);
    expect(names.every((name) => e.election(name)?.isLeader())).toBe(true);
    expect(names.every((name) => e.election(name)?.getState().healthy)).toBe(true);
  });

  it('stops calling a listener once it is removed', async () => {
    const { clock, elector } = setup();
    const x = elector('x', true, ['default']);
    const seen: string[] = [];
    const remove = x.onEvent((event) => seen.push(event.type));
    remove();
    x.start();
    await clock.advance(P);
    expect(x.election('default')!.isLeader()).toBe(true);
    expect(seen).toEqual([]);
  });

  it('generates a fresh candidate id per start: hostname:pid:random, never the bare hostname', () => {
    const first = generateCandidateId();
    const second = generateCandidateId();
    expect(first).toMatch(
      new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${process.pid}:[0-9a-f]{8}$`),
    );
    expect(first).not.toBe(second);
    expect(first).not.toBe(hostname());
    expect(generateCandidateId('worker-7')).toMatch(/^worker-7:[0-9a-f]{8}$/);
  });
});
