import { performance } from 'node:perf_hooks';
import { createTestDatabase, type TestDatabase } from './support/database';
import type { LeaseStore } from '../libs/leader-election/src/store/lease-store';
import { QUIET_LOGGER, recordedStore } from './support/recorded-store';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { LeaderElector } from '../libs/leader-election/src/elector/leader-elector';

const TIMING = { leaseDurationMs: 2_000, renewIntervalMs: 400, pollIntervalMs: 400, safetyMarginMs: 400 };
/** Counts the statements a store sends, by method. */
const counting = (store: MysqlLeaseStore) => {
  const { store: recorded, counts } = recordedStore(store);
  return { store: recorded, calls: counts };
};

describe('batching: one process in many elections (real MariaDB)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('batching');
  });
  afterAll(async () => {
    await db.drop();
  });

  const elector = (store: LeaseStore, elections: string[], candidateId: string) =>
    new LeaderElector({
      store,
      elections,
      candidateId,
      timing: TIMING,
      createTable: true,
      logger: QUIET_LOGGER,
      standbyMode: 'poll',
    });
  const store = () =>
    new MysqlLeaseStore({ connection: db.url, tableName: 'lease_batch', operationTimeoutMs: 1_000 });

  it('a leader of 30 elections renews them all in about one statement per R, a follower reads them in about one per P', async () => {
    const elections = Array.from({ length: 30 }, (_, i) => `job-${i}`);
    const leaderStore = counting(store());
    const leader = elector(leaderStore.store, elections, 'leader');
    const followerStore = counting(store());
    const follower = elector(followerStore.store, elections, 'follower');
    leader.start();
    try {
      const start = performance.now();
      while (!elections.every((name) => leader.election(name)!.isLeader())) {
        if (performance.now() - start > 10_000) throw new Error('the leader did not win every election');
        await new Promise((r) => setTimeout(r, 20));
      }
      follower.start();
      await new Promise((r) => setTimeout(r, 2 * TIMING.pollIntervalMs));

      const before = { leader: { ...leaderStore.calls }, follower: { ...followerStore.calls } };
      const windowMs = 10 * TIMING.renewIntervalMs;
      await new Promise((r) => setTimeout(r, windowMs));
      const delta = (now: Record<string, number>, then: Record<string, number>, key: string) =>
        (now[key] ?? 0) - (then[key] ?? 0);
      const leaderStatements =
        delta(leaderStore.calls, before.leader, 'renewMany') +
        delta(leaderStore.calls, before.leader, 'renew');
      const followerStatements =
        delta(followerStore.calls, before.follower, 'readMany') +
        delta(followerStore.calls, before.follower, 'read');
      const periods = windowMs / TIMING.renewIntervalMs;

      expect(elections.every((name) => leader.election(name)!.isLeader())).toBe(true);
      expect(elections.some((name) => follower.election(name)!.isLeader())).toBe(false);
      // Unbatched, this would be 30 per period; the target is at most 2 per period.
      expect(leaderStatements).toBeGreaterThan(0);
      expect(leaderStatements).toBeLessThanOrEqual(2 * periods);
      expect(followerStatements).toBeGreaterThan(0);
      expect(followerStatements).toBeLessThanOrEqual(2 * periods);
    } finally {
      // Also after a failure: running electors would keep Jest from exiting.
      await Promise.all([follower.stop(), leader.stop()]);
    }
  }, 60_000);
});
