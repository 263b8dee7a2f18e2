import type { LeaderElectionModuleOptions } from 'nestjs-leader-election';
import { FAST_TIMING, sleep, startCandidate, waitUntil, type Candidate } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';

// Handover to a chosen candidate (docs/design.md, "Handover to a chosen candidate"): in-process candidates,
// each a Nest app with its own lease pool and doorbell connection, against the real server.

const ELECTION = 'handover-to';
const L = FAST_TIMING.leaseDurationMs;
const P = FAST_TIMING.pollIntervalMs;
const WINDOW_MS = 1_000;

describe('handover to a chosen candidate', () => {
  let db: TestDatabase;
  const candidates: Candidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('handover_to');
  });

  afterEach(async () => {
    await Promise.all(candidates.splice(0).map((candidate) => candidate.close()));
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function candidate(
    election: string,
    options: Partial<LeaderElectionModuleOptions> = {},
  ): Promise<Candidate> {
    const started = await startCandidate({
      options: {
        connection: db.url,
        elections: [election],
        ...FAST_TIMING,
        handoverWindowMs: WINDOW_MS,
        ...options,
      },
    });
    candidates.push(started);
    return started;
  }

  const leadersOf = (election: string, among: readonly Candidate[]) =>
    among.filter((c) => !c.closed && c.service.isLeader(election));

  /** Samples every ms until `done`: fails the test if two candidates ever believe they lead at once. */
  function watchOverlaps(election: string, among: readonly Candidate[]) {
    let overlaps = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        if (leadersOf(election, among).length > 1) overlaps++;
        await sleep(1);
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return overlaps;
      },
    };
  }

  it('the named candidate takes the next term in 20 of 20 tries, within milliseconds, never two leaders', async () => {
    const all = [await candidate(ELECTION)];
    await all[0].service.waitForLeadership(ELECTION);
    for (let i = 0; i < 3; i++) all.push(await candidate(ELECTION));
    await sleep(2 * P); // every standby has read the lease and waits on the doorbell
    const watch = watchOverlaps(ELECTION, all);
    const times: number[] = [];
    const resignedAt = new Map<Candidate, number>();
    for (let round = 0; round < 20; round++) {
      const [leader] = leadersOf(ELECTION, all);
      expect(leader).toBeDefined();
      const term = leader.service.leadershipOf(ELECTION)!.term;
      // Any other candidate, also one that resigned itself a moment ago (the pause does not hold it back).
      const others = all.filter((c) => c !== leader);
      const target = others[round % others.length];
      const t0 = performance.now();
      expect(await leader.service.resign(ELECTION, { to: target.service.candidateId })).toBe(true);
      resignedAt.set(leader, t0);
      await waitUntil(() => leadersOf(ELECTION, all).length > 0, 3 * L, `a leader after try ${round + 1}`);
      times.push(performance.now() - t0);
      const [next] = leadersOf(ELECTION, all);
      expect(next.service.candidateId).toBe(target.service.candidateId);
      expect(next.service.leadershipOf(ELECTION)!.term).toBeGreaterThan(term);
      await sleep(50);
    }
    expect(await watch.stop()).toBe(0);
    times.sort((a, b) => a - b);
    // Within milliseconds: far below P (a poll) and the window (nobody else waited for it to pass).
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(P);
    expect(times[times.length - 1]).toBeLessThan(WINDOW_MS);

    // The leadership history records each of those 20 terms as handed over (written in the background).
    const handedOver = async () =>
      (await all[0].service.getHistory(ELECTION, { limit: 50 })).filter((t) => t.endReason === 'handed-over');
    for (let i = 0; i < 50 && (await handedOver()).length < 20; i++) await sleep(100);
    expect((await handedOver()).length).toBe(20);
  }, 120_000);

  it('a handover back to the candidate that resigned a moment ago is taken within milliseconds, not at its next planned step (R = 2 s)', async () => {
    const election = `${ELECTION}-back`;
    // The default timings: a candidate's next planned step after its resign can be up to R = 2 s away.
    const defaults = {
      leaseDurationMs: 10_000,
      renewIntervalMs: 2_000,
      pollIntervalMs: 2_000,
      safetyMarginMs: 1_000,
    };
    const a = await candidate(election, defaults);
    await a.service.waitForLeadership(election);
    const b = await candidate(election, defaults);
    await sleep(500); // b has read the lease and waits on the doorbell
    const pair = [a, b];
    const watch = watchOverlaps(election, pair);
    const times: number[] = [];
    for (let round = 0; round < 5; round++) {
      const [from, to] = round % 2 === 0 ? [a, b] : [b, a];
      const t0 = performance.now();
      expect(await from.service.resign(election, { to: to.service.candidateId })).toBe(true);
      await waitUntil(
        () => to.service.isLeader(election),
        3 * defaults.leaseDurationMs,
        `round ${round + 1}`,
      );
      // From the second round on, the target is the candidate that resigned 100 ms before.
      if (round > 0) times.push(performance.now() - t0);
      await sleep(100);
    }
    expect(await watch.stop()).toBe(0);
    // Before: up to R (the target's next step); now a few round trips after it looked for b's lock.
    expect(Math.max(...times)).toBeLessThan(defaults.renewIntervalMs / 4);
  }, 120_000);

  it('when the named candidate is gone, the others hold off for the window, then one of them takes over', async () => {
    const election = `${ELECTION}-gone`;
    const leader = await candidate(election);
    await leader.service.waitForLeadership(election);
    const standbys = [await candidate(election), await candidate(election)];
    await sleep(2 * P);
    const all = [leader, ...standbys];
    const watch = watchOverlaps(election, all);
    const t0 = performance.now();
    expect(await leader.service.resign(election, { to: 'gone-instance:0000' })).toBe(true);
    await sleep(WINDOW_MS - 100);
    // Nobody takes the lease within the window: it is the named candidate's.
    expect(leadersOf(election, all)).toEqual([]);
    await waitUntil(
      () => leadersOf(election, all).length > 0,
      WINDOW_MS + 3 * P,
      'a leader after the window',
    );
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(WINDOW_MS);
    expect(leadersOf(election, all).map((c) => c.service.candidateId)).not.toContain(
      leader.service.candidateId, // it resigned: it does not campaign for L
    );
    expect(await watch.stop()).toBe(0);
  }, 60_000);

  it("with preferred: 'pref', a preferred instance that (re)starts takes leadership back from a leader that is not preferred", async () => {
    const election = `${ELECTION}-preferred`;
    const options = { preferred: 'pref' };
    const other = await candidate(election, { ...options, candidateId: 'other' });
    await other.service.waitForLeadership(election);
    const second = await candidate(election, { ...options, candidateId: 'other2' });
    await sleep(2 * P);
    const all = [other, second];
    const watch = watchOverlaps(election, all);
    const t0 = performance.now();
    const preferred = await candidate(election, { ...options, candidateId: 'pref' });
    all.push(preferred);
    await waitUntil(() => preferred.service.isLeader(election), L + 2 * P, 'the preferred instance to lead');
    const tookMs = performance.now() - t0;
    // It asked at its first read; the leader saw it at its next renewal (within R) and handed over.
    expect(tookMs).toBeLessThan(L);
    // It keeps leading: a preferred leader is not asked to hand over by the others.
    await sleep(3 * FAST_TIMING.renewIntervalMs);
    expect(leadersOf(election, all)).toEqual([preferred]);
    expect(await watch.stop()).toBe(0);
  }, 60_000);

  it('without preferred, a restarted instance does not take leadership back', async () => {
    const election = `${ELECTION}-not-preferred`;
    const other = await candidate(election, { candidateId: 'other' });
    await other.service.waitForLeadership(election);
    const pref = await candidate(election, { candidateId: 'pref' });
    await sleep(L);
    expect(other.service.isLeader(election)).toBe(true);
    expect(pref.service.isLeader(election)).toBe(false);
  }, 30_000);

  it('resign({ to }) with an empty id is refused with an error naming the option', async () => {
    const c = await candidate(`${ELECTION}-bad`);
    await c.service.waitForLeadership(`${ELECTION}-bad`);
    await expect(c.service.resign(`${ELECTION}-bad`, { to: '' })).rejects.toThrow(
      /resign\(election, \{ to \}\)/,
    );
    expect(c.service.isLeader(`${ELECTION}-bad`)).toBe(true);
  }, 30_000);
});
