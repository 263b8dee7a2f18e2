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
