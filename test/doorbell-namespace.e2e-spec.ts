import type { LeaseDoorbell } from '../libs/leader-election/src/store/lease-store';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startThrowawayServer, type ThrowawayServer } from '../tools/mysql-server';

// The doorbell's named lock: whose it is (named locks are global to the server, not per database), and
// what server-wide settings must not do to its waits.

const P_MS = 2_000; // the default poll interval: a doorbell wake-up must beat it

describe('doorbell lock names and session', () => {
  const stores: MysqlLeaseStore[] = [];
  const doorbells: LeaseDoorbell[] = [];
  const newStore = (url: string) => {
    const store = new MysqlLeaseStore({
      connection: url,
      tableName: 'leader_election_lease',
      operationTimeoutMs: 3_000,
    });
    stores.push(store);
    return store;
  };
  const bell = (store: MysqlLeaseStore, election: string) => {
    const doorbell = store.openDoorbell(election);
    doorbells.push(doorbell);
    return doorbell;
  };
  afterEach(async () => {
    await Promise.all(doorbells.splice(0).map((doorbell) => doorbell.close()));
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  describe('two databases of one server, same table and election names', () => {
    let first: TestDatabase;
    let second: TestDatabase;
    beforeAll(async () => {
      first = await createTestDatabase('bell_first');
      second = await createTestDatabase('bell_second');
    });
    afterAll(async () => {
      await first.drop();
      await second.drop();
    });

    it("each database's leader holds its own lock, and a graceful release wakes that database's standby within P", async () => {
      const leaderFirst = bell(newStore(first.url), 'default');
      const leaderSecond = bell(newStore(second.url), 'default');
      expect(await leaderFirst.hold()).toBe(true);
      expect(await leaderSecond.hold()).toBe(true);

      const standbyFirst = bell(newStore(first.url), 'default');
      const standbySecond = bell(newStore(second.url), 'default');
      const waits = [standbyFirst, standbySecond].map((doorbell) => {
        const started = Date.now();
        return doorbell.wait(20_000).then((outcome) => ({ outcome, at: Date.now(), started }));
      });
      let secondDone = false;
      void waits[1].then(() => (secondDone = true));
      await new Promise((resolve) => setTimeout(resolve, 300)); // both are blocked in GET_LOCK now

      const releasedFirst = Date.now();
      await leaderFirst.release();
      const wokeFirst = await waits[0];
      expect(wokeFirst.outcome).toBe('rung');
      expect(wokeFirst.at - releasedFirst).toBeLessThan(P_MS);
      expect(secondDone).toBe(false); // the other database's leader still holds its lock

      const releasedSecond = Date.now();
      await leaderSecond.release();
      const wokeSecond = await waits[1];
      expect(wokeSecond.outcome).toBe('rung');
      expect(wokeSecond.at - releasedSecond).toBeLessThan(P_MS);
    });
  });

  describe('on a server with max_statement_time = 1 s', () => {
    let server: ThrowawayServer;
    beforeAll(async () => {
      server = await startThrowawayServer(undefined, ['--max-statement-time=1']);
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it('a doorbell wait longer than the server-wide statement limit runs out as a timeout, and a release still rings it', async () => {
      const leader = bell(newStore(server.url), 'default');
      expect(await leader.hold()).toBe(true);
      const standby = bell(newStore(server.url), 'default');
      const started = Date.now();
      expect(await standby.wait(3_000)).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);

      const pending = standby.wait(10_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the server's 1 s limit
      await leader.release();
      expect(await pending).toBe('rung');
    });
  });
});
