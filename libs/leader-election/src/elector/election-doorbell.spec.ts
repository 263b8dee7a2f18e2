import { ElectorHarnesses, RecordingLogger, type HarnessCandidate } from '../../testing/elector-harness';
import type { MemoryLeaseStoreOptions, StatementRecord } from '../../testing/memory-lease-store';
import type { LeaseErrorKind, LeaseStore } from '../store/lease-store';
import type { ElectionTiming } from './election-state';
import { LeaderElector, type StandbyMode } from './leader-elector';

// P is long on purpose: a standby that polled could not hand over within a few ms, nor cost < 2 / L.
const L = 10_000;
const R = 2_000;
const P = 5_000;
const M = 1_000;
const TIMING: ElectionTiming = {
  leaseDurationMs: L,
  renewIntervalMs: R,
  pollIntervalMs: P,
  safetyMarginMs: M,
};
const NAME = 'default';
/** Round trip of every statement, in fake ms. */
const LATENCY = 2;
/** A graceful handover costs a few round trips (release, ring, read, acquire): far below P. */
const HANDOVER_MS = 20;
const FALLBACK_LINE = 'standbys poll the lease instead';

type Candidate = HarnessCandidate;

// The safety invariant (at no instant do two candidates believe they lead an election, and whoever
// believes it holds a lease the database still considers valid) is checked at every timer of every
// harness and asserted after each test.
const harnesses = new ElectorHarnesses();
afterEach(() => harnesses.assertNoViolations());

/** A fake timeline and one database with named locks; each candidate has its own connections. */
function harness(storeOptions: MemoryLeaseStoreOptions = {}) {
  return harnesses.create({
    timing: TIMING,
    name: NAME,
    clientViews: true,
    store: { latencyMs: LATENCY, doorbells: true, ...storeOptions },
  });
}

/** Candidates of one election, each a simulated process of its own with its own connections. */
function world(storeOptions: MemoryLeaseStoreOptions = {}) {
  const h = harness(storeOptions);
  /** A process dies: its timers stop for good, and the server ends its sessions (freeing its lock). */
  const crash = (c: Candidate) => {
    c.clock.pause();
    h.store.crashDoorbells(c.id);
  };
  /** Starts `first`, waits until it leads, then starts the others and lets them settle into standby. */
  const electAndSettle = async (first: Candidate, ...standbys: Candidate[]) => {
    await h.elect(first, ...standbys);
    await h.run(3 * R);
  };
  return Object.assign(h, { crash, electAndSettle });
}

const lastOf = <T>(items: readonly T[]): T => {
  if (items.length === 0) throw new Error('expected at least one item');
  return items[items.length - 1];
};
const after = (statements: StatementRecord[], t: number) => statements.filter((s) => s.sentAt >= t);
const fallbackLines = (c: { logger: RecordingLogger }) => c.logger.including(FALLBACK_LINE);

describe('Election with a doorbell (fake clock, in-memory named locks)', () => {
  describe('graceful handover', () => {
    it('stop() hands over to a waiting standby within a few ms (far below P), the lease row released before the lock', async () => {
      const w = world();
      const [a, b, c] = ['a', 'b', 'c'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b, c);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b', 'c'] });

      const t0 = w.clock.now();
      const stopping = a.election.stop();
      await w.runUntil(() => w.leaders().length === 1 && !a.election.isLeader(), P, 'a new leader');
      const handoverMs = w.clock.now() - t0;
      await stopping;

      expect(handoverMs).toBeLessThanOrEqual(HANDOVER_MS);
      expect(b.election.isLeader()).toBe(true); // the first in line
      const release = lastOf(w.store.find({ kind: 'release', client: 'a' }));
      const freed = lastOf(w.store.lockEvents.filter((e) => e.client === 'a' && e.type === 'freed'));
      expect(freed.cause).toBe('close');
      expect(release.executedAt).toBeLessThan(freed.at);
      // The ring wakes b, whose compare-and-swap on the term it read before finds the lease already
      // free: no read, no waiting for an expiry.
      expect(after(w.store.find({ kind: 'read', client: 'b' }), freed.at)).toEqual([]);
      expect(lastOf(w.store.wins())).toMatchObject({ holder: 'b', term: 1 });
      // Only one standby woke; c listens to the new leader.
      expect(w.store.find({ kind: 'read', client: 'c' }).filter((s) => s.sentAt >= t0)).toEqual([]);
      await w.run(R);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: ['c'] });
    });

    it('a ring after a graceful release acquires in one statement: the CAS on the term read before the wait, no read, no timer between ring and CAS', async () => {
      const w = world();
      const [a, b, c] = ['a', 'b', 'c'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b, c);

      const stopping = a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      await stopping;
      const freed = lastOf(w.store.lockEvents.filter((e) => e.client === 'a' && e.type === 'freed'));
      const sinceRing = after(w.store.find({ client: 'b' }), freed.at).filter(
        (s) => s.kind === 'read' || s.kind === 'acquire',
      );
      expect(sinceRing.map((s) => s.kind)).toEqual(['acquire']);
      expect(sinceRing[0]).toMatchObject({ term: 1, result: true });
      // Sent from the ring's answer itself: no timer of b ran in between (not even one of 0 ms).
      expect(b.clock.firedAt.filter((t) => t >= freed.at && t <= sinceRing[0].sentAt)).toEqual([]);
    });

    it('resign() hands over to a waiting standby within a few ms, and the resigned candidate listens in turn', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);

      const t0 = w.clock.now();
      const resigned = a.election.resign();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(await resigned).toBe(true);
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
      const release = lastOf(w.store.find({ kind: 'release', client: 'a' }));
      const unlock = lastOf(w.store.find({ kind: 'releaseLock', client: 'a' }));
      expect(release.executedAt).toBeLessThan(unlock.executedAt!);

      await w.run(P + R);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: ['a'] });
      expect(a.election.getState()).toMatchObject({
        role: 'follower',
        leaderId: 'b',
        standbyMode: 'doorbell',
      });
    });

    it('a candidate that resigned reads at once and waits on the doorbell as soon as its successor holds the lock, not at its next planned step', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);
      // Half a renewal interval from a's next planned step, either way.
      await w.run(R / 2);

      const resigned = a.election.resign();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      await resigned;
      const tB = w.clock.now();
      await w.runUntil(
        () => w.store.lockState(NAME).waiters.includes('a'),
        R,
        'a waiting on the doorbell again',
      );
      // A few looks for the successor's lock (10 ms, doubling), far below R.
      expect(w.clock.now() - tB).toBeLessThanOrEqual(5 * HANDOVER_MS);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: ['a'] });
      // No read storm: the looks stop once it waits.
      const reads = () => w.store.find({ kind: 'read', client: 'a' }).length;
      const before = reads();
      await w.run(R);
      expect(reads() - before).toBeLessThanOrEqual(1);
    });

    it('still hands over within a few ms when a slow GET_LOCK made the leader ask for the lock twice (GET_LOCK is recursive)', async () => {
      // The leader's first GET_LOCK takes longer than R: a second one must not be sent meanwhile, or
      // the session would hold the lock twice and one RELEASE_LOCK would not free it.
      const w = world({ latencyMs: (s) => (s.kind === 'getLock' && s.client === 'a' ? 2.5 * R : LATENCY) });
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);
      // b found the lock unheld while a's GET_LOCK ran, and listens once a holds it.
      await w.runUntil(() => w.store.lockState(NAME).waiters.includes('b'), 2 * P, 'b to listen');
      expect(w.store.lockState(NAME).holder).toBe('a');
      expect(w.store.find({ kind: 'getLock', client: 'a' })).toHaveLength(1);

      const t0 = w.clock.now();
      void a.election.resign();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    });
  });

  describe('crash', () => {
    it('a crashed leader (sessions closed, no release) wakes a standby, which takes over right after the lease expires on the DB clock, never before', async () => {
      const w = world();
      const [a, b, c] = ['a', 'b', 'c'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b, c);
      await w.runUntil(
        () => lastOf(w.store.find({ kind: 'renew', client: 'a' })).status === 'ok',
        R + 100,
        'a renewal',
      );
      await w.run(300);

      const crashedAt = w.clock.now();
      w.crash(a);
      const expiry = w.store.expiryInFakeTime(NAME);
      // The server freed a's lock and granted it to the first waiter at once.
      expect(w.store.lockEvents.slice(-2)).toEqual([
        { at: crashedAt, name: NAME, client: 'a', type: 'freed', cause: 'crash' },
        { at: crashedAt, name: NAME, client: 'b', type: 'granted', cause: 'wait' },
      ]);
      await w.run(LATENCY * 3);
      // The ring's compare-and-swap (in case it was a release) matches nothing: the lease is valid. Then
      // one read, which shows it.
      const [ringCas, ...attempts] = after(w.store.find({ kind: 'acquire' }), crashedAt);
      expect(ringCas).toMatchObject({ client: 'b', term: 1, result: false });
      const woke = after(w.store.find({ kind: 'read', client: 'b' }), crashedAt);
      expect(woke).toHaveLength(1);
      expect(woke[0].result).toMatchObject({ holder: 'a', valid: true });

      await w.runUntil(() => b.election.isLeader() || c.election.isLeader(), L, 'a new leader');
      attempts.push(...after(w.store.find({ kind: 'acquire' }), ringCas.sentAt + 1));
      expect(attempts.length).toBeGreaterThan(0);
      for (const attempt of attempts) {
        expect(attempt.sentAt).toBeGreaterThanOrEqual(expiry);
        expect(attempt.dbExecutedAt).toBeGreaterThanOrEqual(attempt.before!.expiresAt);
      }
      const win = lastOf(w.store.wins());
      expect(win).toMatchObject({ holder: 'b', term: 1 });
      // Taken over right after the expiry (jitter + a round trip), not at a later read.
      expect(win.executedAt! - expiry).toBeGreaterThanOrEqual(0);
      expect(win.executedAt! - expiry).toBeLessThanOrEqual(20);
      expect(b.election.currentLeadership()?.term).toBe(2);
      // The standby kept the lock it won: the new leader holds it, and c listens to it.
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: ['c'] });
      // Waiting for the expiry cost b about one read per R, not one per ms.
      expect(after(w.store.find({ kind: 'read', client: 'b' }), crashedAt).length).toBeLessThanOrEqual(
        Math.ceil(L / R) + 1,
      );
    });

    it('a standby rung by a crash sends its CAS 1 ms after the lease would run out, without jitter (it alone holds the lock)', async () => {
      const w = world();
      const a = w.candidate('a');
      // The largest jitter the random source can give.
      const b = w.candidate('b', { random: () => 0.999 });
      await w.electAndSettle(a, b);
      await w.run(300);
      const crashedAt = w.clock.now();
      w.crash(a);
      const expiry = w.store.expiryInFakeTime(NAME);
      await w.runUntil(() => b.election.isLeader(), L, 'leader b');
      // The first is the ring's CAS in case it was a release (it matches nothing).
      const [ringCas, attempt] = after(w.store.find({ kind: 'acquire', client: 'b' }), crashedAt);
      expect(ringCas.result).toBe(false);
      expect(attempt.sentAt - expiry).toBeGreaterThanOrEqual(0);
      expect(attempt.sentAt - expiry).toBeLessThanOrEqual(1 + LATENCY);
    });

    it('a paused leader that keeps its lock (nothing rings) is still taken over after expiry, by the standby’s expiry-aligned read', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);
      await w.runUntil(
        () => lastOf(w.store.find({ kind: 'renew', client: 'a' })).status === 'ok',
        R + 100,
        'a renewal',
      );
      a.clock.pause(); // SIGSTOP: its session, and lock, live on
      const pausedAt = w.clock.now();
      const expiry = w.store.expiryInFakeTime(NAME);

      await w.runUntil(() => b.election.isLeader(), L + 100, 'leader b');
      const win = lastOf(w.store.wins());
      expect(win).toMatchObject({ holder: 'b', term: 1 });
      for (const attempt of after(w.store.find({ kind: 'acquire' }), pausedAt)) {
        expect(attempt.sentAt).toBeGreaterThanOrEqual(expiry);
      }
      expect(win.executedAt! - expiry).toBeLessThanOrEqual(20);
      // b read the row at most about once per R while the lease ran out, not every ms.
      expect(after(w.store.find({ kind: 'read', client: 'b' }), pausedAt).length).toBeLessThanOrEqual(
        Math.ceil(L / R) + 1,
      );
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });

      // a wakes: it believes nothing at once, steps down, and frees its lock for b's pending wait.
      a.clock.resume();
      expect(a.election.isLeader()).toBe(false);
      await w.run(R + 100);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: ['a'] });
      // The doorbell works again: stopping b hands over to a at once.
      const t0 = w.clock.now();
      void b.election.stop();
      await w.runUntil(() => a.election.isLeader(), P, 'leader a again');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    });
  });

  describe('steady state', () => {
    it('a standby sends about one read per lease period and keeps exactly one wait pending (10 lease periods)', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);
      await w.run(2 * L);

      const windowStart = w.clock.now();
      let longestGap = 0;
      let gapSince: number | undefined;
      let overlappingWaits = 0;
      const watch = () => {
        const waiting = w.store.lockState(NAME).waiters.filter((id) => id === 'b').length;
        if (waiting > 1) overlappingWaits++;
        const inFlight = w.store
          .find({ kind: 'waitLock', client: 'b' })
          .filter((s) => s.status === 'in-flight').length;
        if (inFlight > 1) overlappingWaits++;
        if (waiting === 0) gapSince ??= w.clock.now();
        else if (gapSince !== undefined) {
          longestGap = Math.max(longestGap, w.clock.now() - gapSince);
          gapSince = undefined;
        }
      };
      w.watch(() => {
        watch();
        return [];
      });
      const periods = 10;
      await w.run(periods * L);

      const ofB = after(w.store.find({ client: 'b' }), windowStart);
      const reads = ofB.filter((s) => s.kind === 'read');
      const waits = ofB.filter((s) => s.kind === 'waitLock');
      expect(reads.length).toBeGreaterThanOrEqual(periods - 1);
      expect(reads.length).toBeLessThanOrEqual(2 * periods);
      // One wait blocks for 60 s before it is sent again.
      expect(waits.length).toBeLessThanOrEqual(Math.ceil((periods * L) / 60_000) + 1);
      // Issue 7: at most 2 statements per lease period per standby, all kinds counted.
      expect(ofB.length).toBeLessThanOrEqual(2 * periods);
      expect(ofB.map((s) => s.kind).filter((k) => k !== 'read' && k !== 'waitLock')).toEqual([]);
      expect(overlappingWaits).toBe(0);
      expect(gapSince).toBeUndefined();
      expect(longestGap).toBeLessThanOrEqual(2 * LATENCY);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });
      // The leader: one renewal per R and no lock statement once it holds the lock.
      const ofA = after(w.store.find({ client: 'a' }), windowStart);
      expect(ofA.filter((s) => s.kind === 'renew').length).toBeLessThanOrEqual((periods * L) / R + 1);
      expect(ofA.filter((s) => s.kind !== 'renew')).toEqual([]);
      expect(b.election.getState()).toMatchObject({
        role: 'follower',
        leaderId: 'a',
        standbyMode: 'doorbell',
      });
    });

    it('a standby that starts before the leader holds the lock (unheld) reads again soon and then listens', async () => {
      // a's GET_LOCK is slow: b finds nobody holding the lock, so nothing would ring it yet.
      const w = world({ latencyMs: (s) => (s.kind === 'getLock' ? 600 : LATENCY) });
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.elect(a, b);
      await w.run(50);
      expect(w.store.find({ kind: 'waitLock', client: 'b' }).map((s) => s.result)).toEqual(['unheld']);

      await w.run(R + 200);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });
      const t0 = w.clock.now();
      void a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    });
  });

  describe('a live leader and a lost lock', () => {
    it('a standby that wins the lock while the leader still renews gives it back; the leader takes it at its next renewal and a graceful stop still rings', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);

      // a's doorbell connection drops: the server frees its lock, and b's wait wins it.
      const droppedAt = w.clock.now();
      expect(w.store.dropDoorbells('a')).toBe(1);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'b', waiters: [] });

      // Within R (+ slack) b sees a renewing, gives the lock back, and a takes it at its next renewal.
      await w.run(2 * R + 200);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });
      expect(a.election.isLeader()).toBe(true);
      expect(a.events.filter(({ event }) => event.type === 'revoked')).toEqual([]);
      // Only the ring's CAS, which matched nothing: the lease was valid.
      expect(after(w.store.find({ kind: 'acquire', client: 'b' }), droppedAt).map((s) => s.result)).toEqual([
        false,
      ]);
      const unlock = w.store.find({ kind: 'releaseLock', client: 'b' });
      expect(unlock).toHaveLength(1);
      expect(unlock[0].sentAt - droppedAt).toBeLessThanOrEqual(R + 100);

      const t0 = w.clock.now();
      void a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    });
  });

  describe('fallback to polling', () => {
    it.each<LeaseErrorKind>(['configuration'])(
      'a GET_LOCK error (%s) falls back to polling every P for good, with exactly one log line; standbyMode becomes poll',
      async (kind) => {
        const w = world();
        const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
        await w.elect(a);
        w.store.failGetLock(Infinity, kind, { client: 'b', message: 'GET_LOCK denied (injected)' });
        b.election.start();
        await w.run(2 * P);

        expect(b.election.getState().standbyMode).toBe('poll');
        expect(fallbackLines(b)).toHaveLength(1);
        expect(fallbackLines(b)[0].message).toMatch(
          /^Doorbell of "default" unavailable \(GET_LOCK failed: GET_LOCK denied \(injected\)\)/,
        );
        expect(w.store.find({ kind: 'waitLock', client: 'b' })).toHaveLength(1);

        const windowStart = w.clock.now();
        await w.run(10 * P);
        const reads = after(w.store.find({ kind: 'read', client: 'b' }), windowStart);
        expect(reads.length).toBeGreaterThanOrEqual(9);
        expect(reads.length).toBeLessThanOrEqual(11);
        expect(after(w.store.find({ client: 'b' }), windowStart).filter((s) => s.kind !== 'read')).toEqual(
          [],
        );
        expect(fallbackLines(b)).toHaveLength(1);

        // Polling still hands over within P after a graceful stop.
        const t0 = w.clock.now();
        void a.election.stop();
        await w.runUntil(() => b.election.isLeader(), P + 100, 'leader b by polling');
        expect(w.clock.now() - t0).toBeLessThanOrEqual(P + 2 * LATENCY);
        expect(fallbackLines(b)).toHaveLength(1);
      },
    );

    it('a transient GET_LOCK failure (not-applied: a killed query, max_statement_time) polls for a while, then the doorbell is re-armed: one line off, one line back, instant handover again', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.elect(a);
      // The first wait and the first try after it fail.
      w.store.failGetLock(2, 'not-applied', { client: 'b', message: 'Query execution was interrupted' });
      b.election.start();
      await w.run(50);
      expect(b.election.getState().standbyMode).toBe('poll');

      await w.run(8 * P);
      expect(w.store.find({ kind: 'waitLock', client: 'b' }).map((s) => s.status)).toEqual([
        'failed',
        'failed',
        'in-flight',
      ]);
      expect(b.election.getState().standbyMode).toBe('doorbell');
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });
      const lines = (pattern: RegExp) => b.logger.lines.filter((line) => pattern.test(line.message));
      const off = lines(/Doorbell of "default" off/);
      expect(off).toHaveLength(1);
      expect(off[0].message).toContain('Query execution was interrupted');
      expect(fallbackLines(b)).toEqual([]);

      const t0 = w.clock.now();
      void a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
      // Back once a named-lock statement went through (here the ring).
      expect(lines(/Doorbell of "default" works again/)).toHaveLength(1);
      expect(lines(/Doorbell of "default" off/)).toHaveLength(1);
    });

    it('GET_LOCK failing transiently for good is tried again with a backoff up to a few P, with one log line in all, while standbys poll every P', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.elect(a);
      w.store.failGetLock(Infinity, 'not-applied', { client: 'b', message: 'max_statement_time exceeded' });
      b.election.start();
      const windowStart = w.clock.now();
      await w.run(30 * P);

      const tries = w.store.find({ kind: 'waitLock', client: 'b' });
      // Once at start, then after P, 2P, 4P, 4P, ...: about 9 in 30 P; never one per poll.
      expect(tries.length).toBeGreaterThanOrEqual(5);
      expect(tries.length).toBeLessThanOrEqual(12);
      const gaps = tries.slice(1).map((t, i) => t.sentAt - tries[i].sentAt);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(5 * P);
      const reads = after(w.store.find({ kind: 'read', client: 'b' }), windowStart);
      expect(reads.length).toBeGreaterThanOrEqual(28);
      expect(b.logger.lines.filter((line) => line.level !== 'log')).toHaveLength(1);
      expect(b.election.isLeader()).toBe(false);
    });

    it('a GET_LOCK error on the leader falls back to polling with one log line, and standbys still take over within P', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      w.store.failGetLock(1, 'configuration', { client: 'a' });
      await w.electAndSettle(a, b);
      expect(a.election.getState().standbyMode).toBe('poll');
      expect(fallbackLines(a)).toHaveLength(1);
      expect(a.election.isLeader()).toBe(true);
      // b finds nobody holding the lock and reads at most every P.
      const t0 = w.clock.now();
      void a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P + 100, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(P + 2 * LATENCY);
    });

    it.each<[string, LeaseErrorKind]>([
      ['unreachable', 'unreachable'],
      ['outcome-unknown', 'outcome-unknown'],
    ])(
      'an %s GET_LOCK error does not fall back for good: the standby listens again within P and handover stays instant',
      async (_, kind) => {
        const w = world();
        const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
        await w.elect(a);
        w.store.failGetLock(1, kind, { client: 'b' });
        b.election.start();
        await w.run(50);
        expect(w.store.find({ kind: 'waitLock', client: 'b' }).map((s) => s.status)).toEqual(['failed']);

        await w.run(P + 2 * LATENCY);
        expect(b.election.getState().standbyMode).toBe('doorbell');
        expect(fallbackLines(b)).toEqual([]);
        expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });

        const t0 = w.clock.now();
        void a.election.stop();
        await w.runUntil(() => b.election.isLeader(), P, 'leader b');
        expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
      },
    );

    it('a standby whose doorbell connection is lost while it waits listens again within P, without falling back', async () => {
      const w = world();
      const [a, b] = ['a', 'b'].map((id) => w.candidate(id));
      await w.electAndSettle(a, b);
      // Right after a read of b: its next one, aligned on the lease's expiry, is more than P away.
      const reads = w.store.find({ kind: 'read', client: 'b' }).length;
      await w.runUntil(() => w.store.find({ kind: 'read', client: 'b' }).length > reads, L, 'a read of b');
      await w.run(LATENCY);
      expect(w.store.dropDoorbells('b')).toBe(1);
      await w.run(LATENCY);
      expect(lastOf(w.store.find({ kind: 'waitLock', client: 'b' })).error?.kind).toBe('outcome-unknown');

      await w.run(P + 2 * LATENCY);
      expect(b.election.getState().standbyMode).toBe('doorbell');
      expect(fallbackLines(b)).toEqual([]);
      expect(w.store.lockState(NAME)).toEqual({ held: true, holder: 'a', waiters: ['b'] });
      const t0 = w.clock.now();
      void a.election.stop();
      await w.runUntil(() => b.election.isLeader(), P, 'leader b');
      expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    });
  });

  describe('invariant under churn', () => {
    it('at no instant do two candidates believe they lead, through graceful stops, resigns, crashes, pauses and lost locks', async () => {
      const w = world({ latencyMs: (s) => 1 + (s.seq % 7) });
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed / 2_147_483_648;
      };
      const live: Candidate[] = [];
      let next = 0;
      const spawn = () => {
        const c = w.candidate(`c${next++}`);
        c.election.start();
        live.push(c);
      };
      for (let i = 0; i < 3; i++) spawn();
      const paused = new Set<Candidate>();
      let handovers = 0;

      for (let round = 0; round < 60; round++) {
        await w.run(random() * 2 * L);
        const [leader] = w.leaders().filter((c) => live.includes(c) && !paused.has(c));
        const pick = live[Math.floor(random() * live.length)];
        const action = random();
        if (paused.has(pick)) {
          pick.clock.resume();
          paused.delete(pick);
        } else if (action < 0.2 && leader) {
          void leader.election.stop();
          live.splice(live.indexOf(leader), 1);
          handovers++;
          spawn();
        } else if (action < 0.35 && leader) {
          void leader.election.resign();
          handovers++;
        } else if (action < 0.55) {
          w.crash(pick);
          live.splice(live.indexOf(pick), 1);
          spawn();
        } else if (action < 0.7) {
          pick.clock.pause();
          paused.add(pick);
        } else if (action < 0.85) {
          w.store.dropDoorbells(pick.id);
        }
      }
      paused.forEach((c) => c.clock.resume());
      await w.run(2 * L);

      expect(handovers).toBeGreaterThan(5);
      expect(w.leaders()).toHaveLength(1);
      // Terms strictly increase, one holder each.
      const wins = w.store.wins();
      expect(wins.map((s) => s.term! + 1)).toEqual(wins.map((_, i) => i + 1));
    });
  });
});

describe('LeaderElector standby modes (fake clock, in-memory named locks)', () => {
  /** Candidates in several elections, each a LeaderElector of its own process. */
  function electors(storeOptions: MemoryLeaseStoreOptions = {}) {
    const h = harness(storeOptions);
    const elector = (
      id: string,
      elections: string[],
      options: { standbyMode?: StandbyMode; maxDoorbells?: number; store?: LeaseStore } = {},
    ) => {
      const logger = new RecordingLogger();
      const e = new LeaderElector({
        store: options.store ?? h.store.client(id),
        elections,
        candidateId: id,
        timing: TIMING,
        createTable: true,
        logger,
        clock: h.clock.process(),
        random: () => 0.5,
        standbyMode: options.standbyMode,
        maxDoorbells: options.maxDoorbells,
      });
      h.watchElector(id, e);
      return { id, elector: e, logger };
    };
    const modes = (e: LeaderElector) =>
      e.electionNames.map((name) => e.election(name)!.getState().standbyMode);
    const lockStatements = (client?: string) =>
      h.store.find({ kind: ['getLock', 'waitLock', 'releaseLock'], client });
    return Object.assign(h, { elector, modes, lockStatements });
  }

  it("standbyMode: 'poll' never opens a doorbell: no named lock, followers read every P", async () => {
    const w = electors();
    const x = w.elector('x', ['default', 'billing'], { standbyMode: 'poll' });
    const y = w.elector('y', ['default', 'billing'], { standbyMode: 'poll' });
    x.elector.start();
    await w.run(100);
    y.elector.start();
    await w.run(10 * P + 1_234); // stop between two polls of y

    expect(w.store.doorbells).toEqual([]);
    expect(w.lockStatements()).toEqual([]);
    expect(w.modes(x.elector)).toEqual(['poll', 'poll']);
    expect(w.modes(y.elector)).toEqual(['poll', 'poll']);
    expect(w.store.find({ kind: 'read', client: 'y', name: 'default' }).length).toBeGreaterThanOrEqual(10);

    const t0 = w.clock.now();
    void x.elector.stop();
    await w.runUntil(
      () => ['default', 'billing'].every((name) => y.elector.election(name)!.isLeader()),
      P + 100,
      'y to lead both by polling',
    );
    expect(w.clock.now() - t0).toBeGreaterThan(HANDOVER_MS); // no doorbell to ring
  });

  it('in several elections (batched reads), a ring sends its CAS at once: no collection window between the ring and the statement', async () => {
    const w = electors({ batching: true });
    const names = ['e1', 'e2'];
    const x = w.elector('x', names);
    x.elector.start();
    await w.runUntil(() => names.every((name) => x.elector.election(name)!.isLeader()), P, 'x to lead');
    const y = w.elector('y', names);
    y.elector.start();
    await w.run(3 * R);
    expect(w.modes(y.elector)).toEqual(['doorbell', 'doorbell']);

    void x.elector.stop();
    await w.runUntil(() => names.every((name) => y.elector.election(name)!.isLeader()), P, 'y to lead');
    for (const name of names) {
      const rung = lastOf(w.store.lockEvents.filter((e) => e.name === name && e.client === 'y'));
      expect(rung).toMatchObject({ type: 'granted', cause: 'wait' });
      const [first] = after(
        w.store.find({ kind: ['read', 'readMany', 'acquire'], client: 'y' }),
        rung.at,
      ).filter((s) => s.kind === 'readMany' || s.name === name);
      // The ring's answer reaches y after half a round trip; the CAS goes out then, not a window later.
      expect(first).toMatchObject({ kind: 'acquire', name, result: true });
      expect(first.sentAt - rung.at).toBeLessThanOrEqual(LATENCY / 2);
    }
  });

  it('more elections than maxDoorbells: the first ones use a doorbell, the extra ones poll, with one log line', async () => {
    const w = electors();
    const names = ['e1', 'e2', 'e3', 'e4'];
    const x = w.elector('x', names, { maxDoorbells: 2 });
    const y = w.elector('y', names, { maxDoorbells: 2 });
    x.elector.start();
    await w.run(100);
    y.elector.start();
    await w.run(3 * R);

    expect(w.modes(y.elector)).toEqual(['doorbell', 'doorbell', 'poll', 'poll']);
    expect(w.store.doorbells.filter((d) => d.client === 'y').map((d) => d.name)).toEqual(['e1', 'e2']);
    expect(y.logger.including('capped at 2 per process (maxDoorbells)')).toHaveLength(1);
    expect(y.logger.including('2 more election(s) poll')).toHaveLength(1);
    expect(w.store.lockState('e1').waiters).toEqual(['y']);
    expect(w.store.lockState('e3')).toEqual({ held: false, holder: undefined, waiters: [] });

    const windowStart = w.clock.now();
    await w.run(10 * P);
    const reads = (name: string) =>
      after(w.store.find({ kind: 'read', client: 'y', name }), windowStart).length;
    expect(reads('e3')).toBeGreaterThanOrEqual(9);
    expect(reads('e1')).toBeLessThanOrEqual((2 * 10 * P) / L);

    const t0 = w.clock.now();
    void x.elector.stop();
    await w.runUntil(() => y.elector.election('e1')!.isLeader(), P, 'y to lead e1');
    expect(w.clock.now() - t0).toBeLessThanOrEqual(HANDOVER_MS);
    await w.runUntil(() => names.every((n) => y.elector.election(n)!.isLeader()), P + 100, 'y to lead all');
  });

  it('auto mode on a server that cannot share named locks (Galera) polls in every election, with a log line naming the reason', async () => {
    const reason = 'Galera (wsrep_on) does not share named locks between nodes';
    const w = electors({ doorbellUnsupportedReason: reason });
    const x = w.elector('x', ['default', 'billing']);
    const y = w.elector('y', ['default', 'billing']);
    x.elector.start();
    await w.run(100);
    y.elector.start();
    await w.run(3 * P + 1_234); // stop between two polls of y

    for (const c of [x, y]) {
      expect(w.modes(c.elector)).toEqual(['poll', 'poll']);
      const lines = c.logger.including(FALLBACK_LINE);
      expect(lines.map((l) => l.message)).toEqual([
        `Doorbell of "default" unavailable (${reason}); standbys poll the lease instead.`,
        `Doorbell of "billing" unavailable (${reason}); standbys poll the lease instead.`,
      ]);
    }
    expect(w.lockStatements()).toEqual([]);
    const t0 = w.clock.now();
    void x.elector.stop();
    await w.runUntil(() => y.elector.election('default')!.isLeader(), P + 100, 'y to lead by polling');
    expect(w.clock.now() - t0).toBeGreaterThan(HANDOVER_MS);
  });

  it("standbyMode: 'doorbell' forces the doorbell even where the server says it cannot share named locks", async () => {
    const w = electors({ doorbellUnsupportedReason: 'Galera' });
    const x = w.elector('x', ['default'], { standbyMode: 'doorbell' });
    const y = w.elector('y', ['default'], { standbyMode: 'doorbell' });
    x.elector.start();
    await w.run(100);
    y.elector.start();
    await w.run(3 * R);
    expect(w.modes(y.elector)).toEqual(['doorbell']);
    expect(y.logger.including(FALLBACK_LINE)).toEqual([]);
    expect(w.store.lockState('default')).toEqual({ held: true, holder: 'x', waiters: ['y'] });
  });

  it('the check for shared named locks is run again when it failed', async () => {
    const reason = 'Galera (wsrep_on) does not share named locks between nodes';
    const w = electors({ doorbellUnsupportedReason: reason });
    const view = w.store.client('y');
    let checks = 0;
    const flaky: LeaseStore = {
      ...view,
      doorbellUnsupportedReason: () =>
        ++checks === 1 ? Promise.reject(new Error('connection lost')) : view.doorbellUnsupportedReason!(),
    };
    const y = w.elector('y', ['default'], { store: flaky });
    y.elector.start();
    await w.run(3 * P);
    expect(checks).toBe(2);
    expect(w.modes(y.elector)).toEqual(['poll']);
    expect(w.lockStatements('y')).toEqual([]);
  });
});
