import { ElectorHarnesses, type HarnessCandidate } from '../../testing/elector-harness';
import type { StatementRecord } from '../../testing/memory-lease-store';
import type { LeaseErrorKind, LeaseStore } from '../store/lease-store';
import type { ElectionEvent, ElectionTiming } from './election-state';

const L = 10_000;
const R = 2_000;
const P = 2_000;
const M = 1_000;
const TIMING: ElectionTiming = {
  leaseDurationMs: L,
  renewIntervalMs: R,
  pollIntervalMs: P,
  safetyMarginMs: M,
};
const NAME = 'default';

type Candidate = HarnessCandidate;

// The safety invariant (at most one candidate believes it leads, and only on a lease the database still
// holds for it) is checked at every timer of every world and asserted after each test.
const harnesses = new ElectorHarnesses();
afterEach(() => harnesses.assertNoViolations());

/** One simulated world: a fake timeline, one database (the memory store) and candidates of NAME. */
const world = (options: { latencyMs?: number } = {}) =>
  harnesses.create({ timing: TIMING, name: NAME, store: { latencyMs: options.latencyMs ?? 0 } });

const lastOf = <T>(items: readonly T[]): T => {
  if (items.length === 0) throw new Error('expected at least one item');
  return items[items.length - 1];
};

const eventsOf = (c: Candidate, type: ElectionEvent['type']) =>
  c.events.filter(({ event }) => event.type === type);

/** The fake time at which a statement's `expires_at` (as it ran) is reached on the database's clock. */
const expiryAfter = (w: ReturnType<typeof world>, statement: StatementRecord) => {
  if (!statement.after) throw new Error('statement did not run');
  return statement.after.expiresAt - w.store.dbClockOffsetMs;
};

describe('Election (fake clock, in-memory lease store)', () => {
  describe('no acquisition before the database says the lease expired', () => {
    it('a follower never sends an acquisition while the lease is valid on the DB clock, even with its own clocks far off', async () => {
      const w = world({ latencyMs: 20 });
      const a = w.candidate('a');
      // b's wall clock runs 5 s ahead (the incident of docs/design.md, "The clock rule") and its monotonic origin is unrelated.
      const b = w.candidate('b', { wallOffsetMs: 5_000, monotonicOffsetMs: -987_654 });
      await w.elect(a, b);

      // A healthy leader: b only reads, for a minute.
      await w.run(60_000);
      expect(a.election.isLeader()).toBe(true);
      expect(w.store.find({ kind: 'acquire', holder: 'b' })).toEqual([]);
      expect(w.store.find({ kind: 'read' }).length).toBeGreaterThanOrEqual(60_000 / P);
      expect(b.election.getState()).toMatchObject({ role: 'follower', leaderId: 'a', term: 1 });

      // a dies right after a renewal has been answered.
      await w.runUntil(
        () => lastOf(w.store.find({ kind: 'renew', holder: 'a' })).status === 'ok',
        R + 100,
        'a renewal',
      );
      a.clock.pause();
      const lastRenew = lastOf(w.store.find({ kind: 'renew', holder: 'a' }));
      const expiry = expiryAfter(w, lastRenew);

      await w.runUntil(() => b.election.isLeader(), L + P, 'leader b');
      const attempts = w.store.find({ kind: 'acquire', holder: 'b' });
      expect(attempts.length).toBeGreaterThan(0);
      for (const attempt of attempts) {
        // Not even sent before expires_at, and judged expired by the database when it ran.
        expect(attempt.sentAt).toBeGreaterThanOrEqual(expiry);
        expect(attempt.dbExecutedAt).toBeGreaterThanOrEqual(attempt.before?.expiresAt ?? Infinity);
      }
      expect(w.store.wins({ holder: 'b' })).toHaveLength(1);
    });

    it('a follower that starts while a lease is held by a process it never heard of waits for the DB-reported expiry', async () => {
      const w = world();
      await w.store.ensureRow(NAME);
      w.store.seed(NAME, { holder: 'ghost', term: 7, expiresInMs: 6_543 });
      const expiry = w.store.expiryInFakeTime(NAME);
      // Wall clock an hour ahead: any comparison with the host's clock would take over at once.
      const b = w.candidate('b', { wallOffsetMs: 3_600_000 });
      b.election.start();

      await w.runUntil(() => b.election.isLeader(), L, 'leader b');
      const attempts = w.store.find({ kind: 'acquire' });
      expect(attempts.length).toBeGreaterThan(0);
      expect(Math.min(...attempts.map((s) => s.sentAt))).toBeGreaterThanOrEqual(expiry);
      expect(lastOf(attempts)).toMatchObject({ holder: 'b', term: 7, result: true });
      expect(b.election.currentLeadership()?.term).toBe(8);
    });
  });

  describe('the leader stops believing at t_send + L - M, with no timer needed', () => {
    it('isLeader() turns false at exactly t_send(acquire) + L - M, t_send being when the acquisition was sent', async () => {
      const latency = 300;
      const w = world({ latencyMs: latency });
      const a = w.candidate('a');
      a.election.start();
      await w.runUntil(() => a.election.isLeader(), 5_000, 'leader a');

      const acquire = lastOf(w.store.wins({ holder: 'a' }));
      // The answer came back `latency` after sending: the two candidate instants are distinguishable.
      expect(acquire.settledAt! - acquire.sentAt).toBe(latency);
      expect(w.clock.now()).toBe(acquire.settledAt);
      const deadline = acquire.sentAt + L - M;

      const fired = w.clock.firedCount;
      w.clock.jump(deadline - 1 - w.clock.now());
      expect(a.election.isLeader()).toBe(true);
      expect(a.election.currentLeadership()?.term).toBe(1);
      w.clock.jump(1);
      expect(a.election.isLeader()).toBe(false);
      expect(a.election.currentLeadership()).toBeUndefined();
      expect(a.election.getState().role).toBe('follower');
      // Renewals were due meanwhile, and the step-down timer too: none of them ran.
      expect(w.clock.firedCount).toBe(fired);
      expect(w.clock.nextDueAt()).toBeLessThan(w.clock.now());
      expect(w.store.find({ kind: 'renew' })).toEqual([]);
    });

    it('isLeader() turns false at exactly t_send(renew) + L - M after a renewal', async () => {
      const latency = 300;
      const w = world({ latencyMs: latency });
      const a = w.candidate('a');
      a.election.start();
      await w.runUntil(
        () => w.store.find({ kind: 'renew' }).some((s) => s.status === 'ok'),
        R + 5_000,
        'a renewal',
      );
      const renew = lastOf(w.store.find({ kind: 'renew' }));
      expect(renew.result).toBe(true);
      expect(renew.settledAt! - renew.sentAt).toBe(latency);
      const deadline = renew.sentAt + L - M;

      const fired = w.clock.firedCount;
      w.clock.jump(deadline - 1 - w.clock.now());
      expect(a.election.isLeader()).toBe(true);
      w.clock.jump(1);
      expect(a.election.isLeader()).toBe(false);
      expect(w.clock.firedCount).toBe(fired);
    });
  });

  describe('timers of a steady leader', () => {
    it('a renewal re-arms no step-down timer: a steady leader sets about one timer per R, plus one per lease for its deadline', async () => {
      const w = world();
      const a = w.candidate('a');
      a.election.start();
      await w.runUntil(() => a.election.isLeader(), 5_000, 'leader a');
      const armed = jest.spyOn(a.clock, 'setTimeout');
      const cleared = jest.spyOn(a.clock, 'clearTimeout');
      await w.run(60_000);
      expect(a.election.isLeader()).toBe(true);
      const renewals = w.store.find({ kind: 'renew', holder: 'a' }).length;
      expect(renewals).toBeGreaterThanOrEqual(60_000 / R - 1);
      // One timer per step, and the step-down timer only when it falls due (every L - M at most, as the
      // deadline moves on): before, every renewal cleared it and set it again (2 per R, 1 cleared per R).
      expect(armed.mock.calls.length).toBeLessThanOrEqual(renewals + Math.ceil(60_000 / (L - M - R)) + 1);
      expect(cleared.mock.calls.length).toBeLessThanOrEqual(1);
    });

    it('the step-down timer still fires at the deadline of the last renewal when renewals stop being answered', async () => {
      const w = world();
      const a = w.candidate('a');
      a.election.start();
      await w.runUntil(() => a.election.isLeader(), 5_000, 'leader a');
      await w.run(3 * R + 123);
      const revoked = () => eventsOf(a, 'revoked').length;
      w.store.hangNext(1_000, { holder: 'a' });
      const last = lastOf(w.store.find({ kind: 'renew', holder: 'a' }).filter((s) => s.status === 'ok'));
      await w.runUntil(() => revoked() > 0, L, 'revoked');
      expect(w.clock.now()).toBe(last.sentAt + L - M);
    });
  });

  describe('followers take over at the DB-reported expiry, not at the next poll', () => {
    it.each([0, 0.5, 0.999])(
      'after the leader dies, the CAS runs within a few ms after expiry (random() = %s)',
      async (r) => {
        const w = world();
        const a = w.candidate('a');
        const b = w.candidate('b', { random: () => r });
        a.election.start();
        await w.run(700);
        b.election.start(); // b reads at 700, 2700, 4700, ... : off the leader's renew grid
        await w.run(4_000); // a renews at 2000 and 4000
        a.clock.pause();
        const lastRenew = lastOf(w.store.find({ kind: 'renew', holder: 'a' }));
        const expiry = expiryAfter(w, lastRenew);

        await w.runUntil(() => b.election.isLeader(), L + P, 'leader b');
        const win = lastOf(w.store.wins({ holder: 'b' }));
        const gap = win.sentAt - expiry;
        expect(gap).toBeGreaterThan(0);
        expect(gap).toBeLessThanOrEqual(15);
        // The read before it saw the lease still valid; the next poll would have come much later.
        const lastRead = lastOf(w.store.find({ kind: 'read' }).filter((s) => s.sentAt < win.sentAt));
        expect((lastRead.result as { valid: boolean }).valid).toBe(true);
        expect(lastRead.sentAt + P - win.sentAt).toBeGreaterThan(500);
        expect(b.election.currentLeadership()?.term).toBe(2);
      },
    );

    it('the jitter comes from random(): a larger draw waits longer, within a few ms', async () => {
      const gaps: number[] = [];
      for (const r of [0, 0.999]) {
        const w = world();
        const a = w.candidate('a');
        const b = w.candidate('b', { random: () => r });
        a.election.start();
        await w.run(700);
        b.election.start();
        await w.run(4_000);
        a.clock.pause();
        const expiry = expiryAfter(w, lastOf(w.store.find({ kind: 'renew', holder: 'a' })));
        await w.runUntil(() => b.election.isLeader(), L + P, 'leader b');
        gaps.push(lastOf(w.store.wins({ holder: 'b' })).sentAt - expiry);
      }
      expect(gaps[1] - gaps[0]).toBeGreaterThan(5);
      expect(gaps[1] - gaps[0]).toBeLessThanOrEqual(15);
    });
  });

  describe('terms', () => {
    it('every acquisition bumps the term by exactly 1, including re-acquisition after an outcome-unknown step-down', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      a.election.start();
      b.election.start();
      await w.runUntil(() => w.leaders().length === 1, 1_000, 'a leader');
      const [first, second] = a.election.isLeader() ? [a, b] : [b, a];
      expect(first.election.currentLeadership()?.term).toBe(1);

      // A renewal that committed but whose answer was lost: the leader steps down and takes a new term.
      w.store.failNext(1, 'outcome-unknown', { match: { kind: 'renew', holder: first.id }, applied: true });
      await w.runUntil(() => eventsOf(first, 'revoked').length === 1, R + 100, 'a step-down');
      await w.runUntil(() => first.election.isLeader(), P, 'first re-elected');
      expect(first.election.currentLeadership()?.term).toBe(2);

      // Resign: the other one takes term 3.
      await w.run(500);
      const resigned = first.election.resign();
      await w.run(50);
      expect(await resigned).toBe(true);
      await w.runUntil(() => second.election.isLeader(), P + 100, 'second elected');
      expect(second.election.currentLeadership()?.term).toBe(3);

      // An acquisition that committed but whose answer was lost counts as term 4; the next one is term 5.
      await w.run(L); // first's pause after resigning is over
      w.store.failNext(1, 'outcome-unknown', { match: { kind: 'acquire', holder: first.id }, applied: true });
      const stopped = second.election.stop();
      await w.run(50);
      await stopped;
      await w.runUntil(() => first.election.isLeader(), 2 * P, 'first elected again');
      expect(first.election.currentLeadership()?.term).toBe(5);

      const acquisitions = w.store.find({ kind: 'acquire' }).filter((s) => s.after?.term !== s.before?.term);
      expect(acquisitions.map((s) => s.after?.term)).toEqual([1, 2, 3, 4, 5]);
      for (const s of acquisitions) {
        expect(s.term).toBe(s.before?.term); // the CAS compared the term it had observed
        expect(s.after?.term).toBe(s.before!.term + 1);
        expect(s.after?.holder).toBe(s.holder);
      }
      // Failed CAS attempts changed nothing.
      for (const s of w.store.find({ kind: 'acquire' }).filter((x) => x.result === false)) {
        expect(s.after).toEqual(s.before);
      }
      expect(first.transitions()).toEqual([
        ['elected', 1],
        ['revoked', 1],
        ['elected', 2],
        ['revoked', 2],
        ['elected', 5],
      ]);
      expect(second.transitions()).toEqual([
        ['elected', 3],
        ['revoked', 3],
      ]);
    });

    it('a lease row deleted and re-created (term 0) while leading or following: every later term is above every term seen, none handed out twice', async () => {
      const w = world();
      // Deleting the row is exactly what the backing check would flag: the leader learns at its next
      // renewal, and until then the candidate that re-created the row may lead as well. What holds is
      // that no term is handed out twice.
      w.skipLeaseBackingCheck();
      w.skipAtMostOneLeaderCheck();
      await w.store.ensureRow(NAME);
      w.store.seed(NAME, { holder: 'ghost', term: 7, expiresInMs: 100 });
      w.store.latency = 10;
      const a = w.candidate('a');
      const b = w.candidate('b');
      a.election.start();
      b.election.start();
      await w.runUntil(() => w.leaders().length === 1, L, 'a leader');
      const [first, second] = a.election.isLeader() ? [a, b] : [b, a];
      const firstTerm = first.election.currentLeadership()!.term;
      expect(firstTerm).toBe(8);

      // Deleted while `first` leads: whoever re-creates it starts at term 0 and must go above 8.
      w.store.deleteRow(NAME);
      await w.runUntil(
        () => w.leaders().some((c) => c.election.currentLeadership()!.term !== firstTerm),
        L + P,
        'a leader after the deletion',
      );
      const afterLeading = w.leaders().find((c) => c.election.currentLeadership()!.term !== firstTerm)!;
      const secondTerm = afterLeading.election.currentLeadership()!.term;
      expect(secondTerm).toBeGreaterThan(firstTerm);

      // Deleted while the other one follows: the leader dies, its belief ends, then the row goes.
      const follower = afterLeading === first ? second : first;
      afterLeading.clock.pause();
      // Its belief ends at t_send + L - M, before the lease expires on the database: no timer needed.
      await w.clock.advanceTo(lastOf(w.store.wins()).sentAt + L - M);
      expect(afterLeading.election.isLeader()).toBe(false);
      w.store.deleteRow(NAME);
      await w.runUntil(() => follower.election.isLeader(), L + P, 'the follower elected');
      const thirdTerm = follower.election.currentLeadership()!.term;
      expect(thirdTerm).toBeGreaterThan(secondTerm);

      // Every term the database handed out, in order: strictly increasing, never one already used.
      const taken = w.store.wins().map((s) => s.after!.term);
      expect(taken).toEqual([firstTerm, secondTerm, thirdTerm]);
      const elected = [...a.events, ...b.events]
        .filter(({ event }) => event.type === 'elected')
        .sort((x, y) => x.at - y.at)
        .map(({ event }) => event.term);
      expect(elected).toEqual(taken);
    });
  });

  describe('losing the race', () => {
    it('a follower whose reads disagree with the CAS (stale replica reads) backs off instead of spinning, and warns once', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      await w.elect(a);

      // b's SELECTs go to a replica that is stuck before a's acquisition: the lease always looks free.
      const view = w.store.client('b');
      let stale = true;
      const staleStore: LeaseStore = {
        ...view,
        read: async (name) => {
          const row = await view.read(name);
          return stale ? { holder: '', term: 0, valid: false, remainingUs: -1_000_000 } : row;
        },
      };
      const b = w.candidate('b', { store: staleStore });
      b.election.start();
      const window = 10_000;
      await w.run(window);

      const sent = w.store.find({ client: 'b', kind: ['read', 'acquire'] });
      expect(sent.filter((s) => s.kind === 'acquire' && s.result === true)).toEqual([]);
      // About one read and one CAS per P once backed off, plus the few quick ones before that.
      expect(sent.length).toBeLessThanOrEqual(2 * (window / P + 10));
      expect(a.election.isLeader()).toBe(true);
      const warnings = b.logger.at('warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/disagree with the compare-and-swap.*replica/);

      // Reads agree again: b follows a, with one line saying so and no further warning.
      stale = false;
      await w.run(2 * P);
      expect(b.election.getState()).toMatchObject({ role: 'follower', leaderId: 'a' });
      expect(b.logger.at('warn')).toHaveLength(1);
      expect(b.logger.at('log').filter((line) => /agree/.test(line))).toHaveLength(1);
    });

    it('a normal lost race re-reads at once and follows the winner, without a warning', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      a.election.start();
      b.election.start();
      await w.runUntil(() => w.leaders().length === 1, 1_000, 'a leader');
      const [winner, loser] = a.election.isLeader() ? [a, b] : [b, a];
      const lost = w.store.find({ kind: 'acquire', holder: loser.id });
      expect(lost.map((s) => s.result)).toEqual([false]);
      await w.run(50);
      const reread = w.store
        .find({ kind: 'read', holder: undefined, client: undefined })
        .filter((s) => s.sentAt >= lost[0].settledAt!);
      expect(reread.length).toBeGreaterThan(0);
      expect(reread[0].sentAt).toBe(lost[0].settledAt);
      expect(loser.election.getState().leaderId).toBe(winner.id);
      expect(loser.logger.at('warn')).toEqual([]);
    });
  });

  describe('error classes map to the actions of docs/design.md', () => {
    it.each<LeaseErrorKind>(['not-applied', 'unreachable'])(
      'a renewal failing with %s is retried with growing backoff while validUntil is ahead, and the leader keeps leading',
      async (kind) => {
        const w = world({ latencyMs: 10 });
        const a = w.candidate('a');
        await w.elect(a);
        const acquire = lastOf(w.store.wins({ holder: 'a' }));
        w.store.failNext(3, kind, { match: { kind: 'renew' } });
        const leadership = a.election.currentLeadership();

        await w.runUntil(() => w.store.find({ kind: 'renew', holder: 'a' }).length === 4, L, 'four renewals');
        await w.run(10);
        const renews = w.store.find({ kind: 'renew', holder: 'a' });
        expect(renews.map((s) => s.status)).toEqual(['failed', 'failed', 'failed', 'ok']);
        const gaps = renews.slice(1).map((s, i) => s.sentAt - renews[i].settledAt!);
        expect(gaps[0]).toBeGreaterThan(0);
        expect(gaps[1]).toBeGreaterThan(gaps[0]);
        expect(gaps[2]).toBeGreaterThan(gaps[1]);
        expect(gaps[2]).toBeLessThan(R);
        for (const s of renews) expect(s.sentAt).toBeLessThan(acquire.sentAt + L - M);

        expect(a.election.isLeader()).toBe(true);
        expect(leadership?.signal.aborted).toBe(false);
        expect(eventsOf(a, 'revoked')).toEqual([]);
        expect(a.election.getState()).toMatchObject({ healthy: true, lastError: null, term: 1 });
        // The new deadline counts from the renewal that succeeded.
        const fired = w.clock.firedCount;
        w.clock.jump(renews[3].sentAt + L - M - 1 - w.clock.now());
        expect(a.election.isLeader()).toBe(true);
        w.clock.jump(1);
        expect(a.election.isLeader()).toBe(false);
        expect(w.clock.firedCount).toBe(fired);
      },
    );

    it('a leader whose renewals keep failing steps down at t_send + L - M, before the database lets anyone in', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      await w.elect(a, b);
      await w.run(R + 100);
      const lastGood = lastOf(w.store.find({ kind: 'renew', holder: 'a' }));
      expect(lastGood.result).toBe(true);
      w.store.failNext(Infinity, 'not-applied', { match: { kind: 'renew', holder: 'a' } });

      await w.runUntil(() => eventsOf(a, 'revoked').length === 1, L, 'a step-down');
      expect(w.clock.now()).toBe(lastGood.sentAt + L - M);
      const failedRenews = w.store.find({ kind: 'renew', holder: 'a' }).slice(1);
      expect(failedRenews.length).toBeGreaterThan(3);
      // Retried up to the deadline (the last one may still be in flight when it passes), never after it.
      expect(failedRenews.every((s) => s.status !== 'ok' && s.sentAt < lastGood.sentAt + L - M)).toBe(true);
      expect(lastOf(failedRenews).sentAt).toBeGreaterThan(lastGood.sentAt + L - M - R);
      expect(eventsOf(a, 'revoked')[0].event.reason).toMatch(/could not be renewed/);

      await w.runUntil(() => b.election.isLeader(), L, 'leader b');
      expect(lastOf(w.store.wins({ holder: 'b' })).sentAt).toBeGreaterThanOrEqual(expiryAfter(w, lastGood));
    });

    it('an outcome-unknown renewal steps down at once: signal aborted, one revoked event', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      await w.elect(a);
      const leadership = a.election.currentLeadership();
      const acquire = lastOf(w.store.wins({ holder: 'a' }));

      w.store.hangNext(1, { kind: 'renew' });
      await w.run(R + 500); // the renewal was sent at R and hangs
      expect(w.store.hungCount).toBe(1);
      expect(a.election.isLeader()).toBe(true);

      w.store.failHung('outcome-unknown'); // e.g. the statement's deadline passed
      await w.clock.advance(0);
      const failedAt = w.clock.now();
      expect(failedAt).toBeLessThan(acquire.sentAt + L - M - 5_000);
      expect(a.election.isLeader()).toBe(false);
      expect(leadership?.signal.aborted).toBe(true);
      const revoked = eventsOf(a, 'revoked');
      expect(revoked).toHaveLength(1);
      expect(revoked[0]).toMatchObject({ at: failedAt, event: { term: 1 } });
      expect(revoked[0].event.reason).toMatch(/outcome-unknown/);
      expect(a.election.getState()).toMatchObject({ healthy: false, lastErrorKind: 'outcome-unknown' });
      await w.run(R);
      expect(eventsOf(a, 'revoked')).toHaveLength(1);
    });

    it('a renewal answered only after the local deadline does not extend leadership; the next acquisition takes a new term', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      await w.elect(a);
      const acquire = lastOf(w.store.wins({ holder: 'a' }));
      const deadline = acquire.sentAt + L - M;

      w.store.hangNext(1, { kind: 'renew' });
      await w.runUntil(() => eventsOf(a, 'revoked').length === 1, L, 'a step-down');
      expect(w.clock.now()).toBe(deadline);
      expect(w.store.hungCount).toBe(1);
      await w.run(200);
      expect(a.election.isLeader()).toBe(false);

      // The database still had the lease (M left), so the late renewal applies; it must not revive term 1.
      expect(w.store.resumeHung()).toBe(1);
      await w.clock.advance(0);
      const renew = lastOf(w.store.find({ kind: 'renew' }));
      expect(renew).toMatchObject({ status: 'ok', result: true });
      await w.runUntil(() => a.election.isLeader(), P, 'a re-elected');
      expect(a.transitions()).toEqual([
        ['elected', 1],
        ['revoked', 1],
        ['elected', 2],
      ]);
      expect(lastOf(w.store.wins({ holder: 'a' })).sentAt).toBeGreaterThanOrEqual(renew.settledAt!);
    });

    it('a configuration error while leading steps down at once and leaves an unhealthy follower that logs once', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      await w.elect(a);
      const leadership = a.election.currentLeadership();
      // Privileges changed under a running leader: UPDATE is now denied, SELECT still allowed.
      w.store.failNext(Infinity, 'configuration', {
        match: { kind: ['renew', 'acquire'] },
        message: "UPDATE command denied to user 'app'@'%' for table 'leader_election_lease'",
        code: 1142,
      });
      await w.runUntil(() => eventsOf(a, 'revoked').length === 1, R + 100, 'a step-down');
      const renew = lastOf(w.store.find({ kind: 'renew' }));
      expect(renew.status).toBe('failed');
      expect(w.clock.now()).toBe(renew.settledAt);
      expect(leadership?.signal.aborted).toBe(true);

      await w.run(60_000);
      expect(a.election.isLeader()).toBe(false);
      expect(a.election.getState()).toMatchObject({
        role: 'follower',
        healthy: false,
        lastErrorKind: 'configuration',
      });
      expect(a.logger.at('error')).toHaveLength(1);
      expect(eventsOf(a, 'revoked')).toHaveLength(1);
      expect(w.store.find({ kind: 'acquire' }).length).toBeLessThan(15);
    });

    it('a configuration error leaves the candidate an unhealthy follower that retries slowly and logs once', async () => {
      const w = world();
      const a = w.candidate('a');
      w.store.failNext(Infinity, 'configuration', {
        message: "Table 'app.leader_election_lease' doesn't exist",
        code: 1146,
      });
      a.election.start();
      await w.run(120_000);

      expect(a.election.isLeader()).toBe(false);
      expect(a.election.getState()).toMatchObject({
        role: 'follower',
        healthy: false,
        lastErrorKind: 'configuration',
        lastError: "Table 'app.leader_election_lease' doesn't exist",
        status: 'running',
      });
      expect(a.logger.at('error')).toHaveLength(1);
      expect(a.logger.at('error')[0]).toMatch(/configuration/);
      expect(eventsOf(a, 'health-changed')).toHaveLength(1);
      const sent = w.store.statements.map((s) => s.sentAt);
      const gaps = sent.slice(1).map((t, i) => t - sent[i]);
      // Backoff grows and ends well above the poll interval: slow, not a retry storm.
      expect(gaps.slice(-3).every((gap) => gap >= 2 * P)).toBe(true);
      expect(sent.length).toBeLessThan(25);

      w.store.clearFaults();
      await w.runUntil(() => a.election.isLeader(), 5 * P * 1.25 + 1, 'leader a');
      expect(a.election.getState()).toMatchObject({ healthy: true, lastError: null, lastErrorKind: null });
      expect(a.logger.at('log').filter((line) => /succeed again/.test(line))).toHaveLength(1);
    });

    it('a configuration error on the acquisition alone (UPDATE denied, reads allowed) still logs once and backs off', async () => {
      const w = world();
      const a = w.candidate('a');
      w.store.failNext(Infinity, 'configuration', {
        match: { kind: 'acquire' },
        message: "UPDATE command denied to user 'app'@'%' for table 'leader_election_lease'",
        code: 1142,
      });
      a.election.start();
      await w.run(120_000);

      expect(a.election.isLeader()).toBe(false);
      expect(a.election.getState()).toMatchObject({ healthy: false, lastErrorKind: 'configuration' });
      expect(a.logger.at('error')).toHaveLength(1);
      expect(a.logger.lines.length).toBeLessThanOrEqual(2);
      const attempts = w.store.find({ kind: 'acquire' }).map((s) => s.sentAt);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
      expect(gaps.slice(-3).every((gap) => gap >= 2 * P)).toBe(true);
      expect(attempts.length).toBeLessThan(25);
    });

    it('a follower whose acquisitions are refused (read-only server, not applied) backs off to P and logs once', async () => {
      const w = world();
      const a = w.candidate('a');
      w.store.failNext(Infinity, 'not-applied', {
        match: { kind: 'acquire' },
        message:
          'The MariaDB server is running with the --read-only option so it cannot execute this statement',
        code: 1290,
      });
      a.election.start();
      await w.run(60_000);

      expect(a.election.isLeader()).toBe(false);
      expect(a.election.getState()).toMatchObject({ healthy: false, lastErrorKind: 'not-applied' });
      expect(a.logger.at('error')).toHaveLength(1);
      const attempts = w.store.find({ kind: 'acquire' }).map((s) => s.sentAt);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
      expect(gaps.slice(-3).every((gap) => gap >= 0.75 * P)).toBe(true);
      expect(attempts.length).toBeLessThan(60_000 / P + 10);

      w.store.clearFaults();
      await w.runUntil(() => a.election.isLeader(), 1.25 * P + 1, 'leader a');
      expect(a.election.getState().healthy).toBe(true);
    });

    it('a follower that cannot reach the database stays follower, and elects once the store answers again', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a', { store: w.store.client('a') });
      const b = w.candidate('b', { store: w.store.client('b') });
      await w.elect(a, b);
      await w.run(P);
      w.store.failNext(Infinity, 'unreachable', { match: { client: 'b' }, code: 'ECONNREFUSED' });
      await w.run(P);
      a.clock.pause(); // the leader dies while b cannot see the database
      await w.run(3 * L);

      expect(b.election.isLeader()).toBe(false);
      expect(eventsOf(b, 'elected')).toEqual([]);
      expect(b.election.getState()).toMatchObject({
        role: 'follower',
        healthy: false,
        lastErrorKind: 'unreachable',
      });
      expect(w.store.row(NAME)!.expiresAt).toBeLessThan(w.store.dbNow());
      expect(b.logger.at('error')).toHaveLength(1);

      w.store.clearFaults();
      const healedAt = w.clock.now();
      await w.runUntil(() => b.election.isLeader(), P * 1.25 + 100, 'leader b');
      expect(w.clock.now() - healedAt).toBeLessThanOrEqual(P * 1.25 + 100);
      expect(b.election.currentLeadership()?.term).toBe(2);
      expect(b.election.getState().healthy).toBe(true);
    });
  });

  describe('stepping down and handing over', () => {
    it('a renewal that finds the lease taken steps down immediately', async () => {
      const w = world({ latencyMs: 10 });
      w.skipLeaseBackingCheck();
      const a = w.candidate('a');
      await w.elect(a);
      const leadership = a.election.currentLeadership();
      await w.run(R / 2);
      w.store.seed(NAME, { holder: 'intruder', term: 2, expiresInMs: L });

      await w.runUntil(() => eventsOf(a, 'revoked').length > 0, R, 'a step-down');
      const renew = lastOf(w.store.find({ kind: 'renew', holder: 'a' }));
      expect(renew.result).toBe(false);
      expect(eventsOf(a, 'revoked')[0]).toMatchObject({ at: renew.settledAt, event: { term: 1 } });
      expect(eventsOf(a, 'revoked')[0].event.reason).toMatch(/lost/);
      expect(renew.settledAt).toBeLessThan(lastOf(w.store.wins({ holder: 'a' })).sentAt + L - M - 5_000);
      expect(a.election.isLeader()).toBe(false);
      expect(leadership?.signal.aborted).toBe(true);
      await w.run(100);
      expect(a.election.getState()).toMatchObject({ role: 'follower', leaderId: 'intruder', term: 2 });
      expect(w.store.find({ kind: 'renew', holder: 'a' })).toHaveLength(1);
    });

    it('resign() releases the lease, another candidate takes over at its next poll', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      await w.elect(a, b);
      await w.run(3_333);

      const resigned = a.election.resign();
      expect(a.election.isLeader()).toBe(false);
      await w.run(10);
      expect(await resigned).toBe(true);
      const release = lastOf(w.store.find({ kind: 'release', holder: 'a' }));
      expect(release).toMatchObject({ status: 'ok', result: true, term: 1 });
      expect(release.after).toMatchObject({ holder: 'a', term: 1 });
      expect(release.after!.expiresAt).toBeLessThan(w.store.dbNow());

      await w.runUntil(() => b.election.isLeader(), P + 100, 'leader b');
      expect(w.clock.now() - release.settledAt!).toBeLessThanOrEqual(P + 50);
      expect(b.election.currentLeadership()?.term).toBe(2);
      expect(await a.election.resign()).toBe(false);
    });

    it('a candidate that resigned does not campaign again for L', async () => {
      const w = world();
      const a = w.candidate('a');
      await w.elect(a);
      await w.run(2_500);
      const resignedAt = w.clock.now();
      expect(await a.election.resign()).toBe(true);

      await w.run(L + P);
      const attempts = w.store.find({ kind: 'acquire', holder: 'a' }).filter((s) => s.sentAt > resignedAt);
      expect(attempts.length).toBeGreaterThan(0);
      expect(attempts[0].sentAt).toBeGreaterThanOrEqual(resignedAt + L);
      expect(attempts[0].sentAt).toBeLessThanOrEqual(resignedAt + L + P);
      // It kept reading meanwhile, and took a new term.
      expect(
        w.store.find({ kind: 'read' }).filter((s) => s.sentAt > resignedAt && s.sentAt < resignedAt + L)
          .length,
      ).toBeGreaterThan(3);
      expect(a.election.currentLeadership()?.term).toBe(2);
    });

    it('beginShutdown() ends leadership but keeps renewing; stop() releases and the other candidate acquires within P', async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      await w.elect(a, b);
      await w.run(1_234);
      const leadership = a.election.currentLeadership();

      a.election.beginShutdown();
      expect(a.election.isLeader()).toBe(false);
      expect(leadership?.signal.aborted).toBe(true);
      expect(a.transitions()).toEqual([
        ['elected', 1],
        ['revoked', 1],
      ]);
      expect(a.election.getState().status).toBe('draining');
      const renewsBefore = w.store.find({ kind: 'renew', holder: 'a' }).length;
      await w.run(2 * R); // draining: the lease is still renewed, so nobody starts leader work yet
      expect(w.store.find({ kind: 'renew', holder: 'a' }).length).toBeGreaterThan(renewsBefore);
      expect(b.election.isLeader()).toBe(false);
      expect(w.store.find({ kind: 'acquire', holder: 'b' })).toEqual([]);

      const stopped = a.election.stop();
      await w.run(20);
      await stopped;
      const release = lastOf(w.store.find({ kind: 'release', holder: 'a' }));
      expect(release).toMatchObject({ status: 'ok', result: true });
      expect(a.election.getState().status).toBe('stopped');
      expect(a.clock.pendingCount).toBe(0);

      await w.runUntil(() => b.election.isLeader(), P + 100, 'leader b');
      expect(w.clock.now() - release.settledAt!).toBeLessThanOrEqual(P + 50);
      expect(b.election.currentLeadership()?.term).toBe(2);
      // Stopped for good: a never comes back.
      await w.run(3 * L);
      expect(w.store.statements.filter((s) => s.sentAt > release.settledAt! && s.holder === 'a')).toEqual([]);
      expect(a.transitions()).toEqual([
        ['elected', 1],
        ['revoked', 1],
      ]);
    });

    it("emits 'elected' and 'revoked' once per transition, with the term that began or ended", async () => {
      const w = world({ latencyMs: 10 });
      const a = w.candidate('a');
      const b = w.candidate('b');
      await w.elect(a, b);
      await w.run(3 * L); // steady leadership: no event per renewal

      const resigned = a.election.resign();
      await w.run(10);
      await resigned;
      await w.runUntil(() => b.election.isLeader(), P + 100, 'leader b');
      await w.run(3 * L);
      const stopped = b.election.stop();
      await w.run(10);
      await stopped;
      await w.runUntil(() => a.election.isLeader(), L + P, 'leader a again');
      await w.run(L);

      expect(a.transitions()).toEqual([
        ['elected', 1],
        ['revoked', 1],
        ['elected', 3],
      ]);
      expect(b.transitions()).toEqual([
        ['elected', 2],
        ['revoked', 2],
      ]);
      for (const { event } of [...eventsOf(a, 'elected'), ...eventsOf(b, 'elected')]) {
        expect(event.state).toMatchObject({ role: 'leader', term: event.term });
      }
      for (const { event } of [...eventsOf(a, 'revoked'), ...eventsOf(b, 'revoked')]) {
        expect(event.state.role).toBe('follower');
      }
    });
  });
});
