import { connect, createServer, type Server, type Socket } from 'node:net';
import { createConnection } from 'mysql2/promise';
import { LeasePool } from '../libs/leader-election/src/store/lease-pool';
import { LeaseStoreError } from '../libs/leader-election/src/store/lease-store';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { createTestDatabase, mysqlUrl, type TestDatabase } from './support/database';
import { freePort, startThrowawayServer, type ThrowawayServer } from '../tools/mysql-server';

// The lease pool's session: what every lease connection is set to before its first statement, and what
// happens when that setup cannot be done.

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A proxy to the test server that resets (TCP RST) the connections for which `reset(n)` says so, `n`
 * counting accepted connections from 1, before the server's greeting: a connect failure, no statement sent.
 */
async function startResettingProxy(reset: (n: number) => boolean) {
  const target = new URL(mysqlUrl());
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    if (reset(++accepted)) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port || 3306), target.hostname);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = new URL(mysqlUrl());
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('lease session setup', () => {
  describe('on a server whose default is autocommit=0', () => {
    let server: ThrowawayServer;
    const stores: MysqlLeaseStore[] = [];

    beforeAll(async () => {
      server = await startThrowawayServer(undefined, ['--autocommit=0']);
    }, 60_000);
    afterAll(async () => {
      await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
      await server?.stop();
    });

    const newStore = () => {
      const store = new MysqlLeaseStore({
        connection: server.url,
        tableName: 'lease_autocommit',
        operationTimeoutMs: 3_000,
      });
      stores.push(store);
      return store;
    };

    it("an acquisition is committed: another session sees it, and once the winner's connections are gone nobody else wins the same term", async () => {
      const first = newStore();
      await first.ensureSchema();
      await first.ensureRow('jobs');
      expect(await first.acquire('jobs', 'holder-a', 0, 30_000)).toBe(true);

      // A fresh session (itself autocommit=0 here) reads only committed rows.
      const observer = await createConnection({ uri: server.url, supportBigNumbers: true });
      const [rows] = await observer.query("SELECT holder, term FROM lease_autocommit WHERE name = 'jobs'");
      await observer.end();
      expect((rows as Record<string, unknown>[])[0]).toEqual({ holder: 'holder-a', term: 1 });

      // The winner's connections die (crash, pool recycling): an uncommitted acquisition would roll back.
      await first.close();
      const second = newStore();
      expect(await second.acquire('jobs', 'holder-b', 0, 30_000)).toBe(false);
      expect(await second.read('jobs')).toMatchObject({ holder: 'holder-a', term: 1, valid: true });
    });

    it("a release through the doorbell's session (row and lock in one statement) is committed: it outlives that session", async () => {
      const store = newStore();
      await store.ensureSchema();
      await store.ensureRow('bell');
      expect(await store.acquire('bell', 'holder-a', 0, 30_000)).toBe(true);
      const bell = store.openDoorbell('bell');
      expect(await bell.hold()).toBe(true);
      expect(await store.release('bell', 'holder-a', 1, undefined, bell)).toBe(true);
      expect(bell.held).toBe(false);
      // Closing the session rolls back whatever it left in an open transaction.
      await bell.close();
      const second = newStore();
      expect(await second.read('bell')).toMatchObject({ holder: 'holder-a', term: 1, valid: false });
      expect(await second.acquireFree('bell', 'holder-b', 1, 30_000)).toBe(2);
    });
  });

  describe('when the setup statement fails', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('lease_session');
    });
    afterAll(async () => {
      await db.drop();
    });

    it('a lease connection whose session setup fails surfaces the error, runs no statement and is destroyed', async () => {
      const { user, url } = await db.createUser();
      const pool = new LeasePool(url, 3_000, 2, 'SET SESSION no_such_variable_for_this_test = 1');
      const work = jest.fn(async () => 'ran');
      try {
        const outcome = await pool.run(3_000, work).catch((error: unknown) => error);
        expect(outcome).toBeInstanceOf(LeaseStoreError);
        expect(work).not.toHaveBeenCalled();
        // The connection was destroyed, not returned to the pool for a later statement.
        let sessions = -1;
        for (let i = 0; i < 40 && sessions !== 0; i++) {
          const rows = await db.query<{ n: number }[]>(
            'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
            [user],
          );
          sessions = Number(rows[0].n);
          if (sessions !== 0) await sleep(50);
        }
        expect(sessions).toBe(0);
      } finally {
        await pool.close();
      }
    });
  });

  describe('idle connections', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('lease_idle');
    });
    afterAll(async () => {
      await db.drop();
    });

    const sessionsOf = async (user: string) =>
      Number(
        (
          await db.query<{ n: number }[]>(
            'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
            [user],
          )
        )[0].n,
      );

    it('an idle pool arms no timer: nothing wakes the process between statements', async () => {
      const { url } = await db.createUser();
      const pool = new LeasePool(url, 3_000, 2);
      try {
        await pool.run(3_000, (query) => query('SELECT 1', []));
        const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
        try {
          await new Promise<void>((resolve) => setImmediate(resolve));
          // mysql2's own idle eviction re-arms a 1 s timer for the pool's whole life: 2 or more here.
          const before = setTimeoutSpy.mock.calls.length;
          await new Promise<void>((resolve) => {
            const started = Date.now();
            const wait = () => (Date.now() - started >= 2_500 ? resolve() : setImmediate(wait));
            wait();
          });
          expect(setTimeoutSpy.mock.calls.length - before).toBe(0);
        } finally {
          setTimeoutSpy.mockRestore();
        }
      } finally {
        await pool.close();
      }
    });

    it('connections beyond maxIdle close once idle for idleTimeoutMs; the one used last stays open', async () => {
      const { user, url } = await db.createUser();
      const pool = new LeasePool(url, 3_000, 2, undefined, 1, 400);
      try {
        // Two statements at once open two connections.
        await Promise.all([1, 2].map(() => pool.run(3_000, (query) => query('SELECT SLEEP(0.2)', []))));
        expect(await sessionsOf(user)).toBe(2);
        let sessions = 2;
        for (let i = 0; i < 40 && sessions !== 1; i++) {
          await sleep(50);
          sessions = await sessionsOf(user);
        }
        expect(sessions).toBe(1);
        await sleep(800);
        expect(await sessionsOf(user)).toBe(1);
        await pool.run(3_000, (query) => query('SELECT 1', []));
        expect(await sessionsOf(user)).toBe(1);
      } finally {
        await pool.close();
      }
    });

    it('with maxIdle 0 the last connection closes too, idleTimeoutMs after its last statement', async () => {
      const { user, url } = await db.createUser();
      const pool = new LeasePool(url, 3_000, 1, undefined, 0, 300);
      try {
        await pool.run(3_000, (query) => query('SELECT 1', []));
        expect(await sessionsOf(user)).toBe(1);
        let sessions = 1;
        for (let i = 0; i < 40 && sessions !== 0; i++) {
          await sleep(50);
          sessions = await sessionsOf(user);
        }
        expect(sessions).toBe(0);
        // And the pool opens a new one for the next statement.
        await pool.run(3_000, (query) => query('SELECT 1', []));
        expect(await sessionsOf(user)).toBe(1);
      } finally {
        await pool.close();
      }
    });
  });

  describe('connect failures (no statement sent)', () => {
    it('a connection reset during the handshake fails as unreachable, never outcome-unknown', async () => {
      const proxy = await startResettingProxy(() => true);
      const pool = new LeasePool(proxy.url, 3_000);
      try {
        const error = await pool.run(3_000, (query) => query('SELECT 1', [])).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LeaseStoreError);
        expect((error as LeaseStoreError).kind).toBe('unreachable');
      } finally {
        await pool.close();
        await proxy.close();
      }
    });

    it('a fresh connection that fails its handshake is retried once on another connection within the deadline', async () => {
      const proxy = await startResettingProxy((n) => n === 1);
      const pool = new LeasePool(proxy.url, 3_000);
      try {
        const result = await pool.run(3_000, (query) => query('SELECT 1 AS one', []));
        expect(result.rows).toEqual([{ one: 1 }]);
        expect(proxy.accepted()).toBe(2);
      } finally {
        await pool.close();
        await proxy.close();
      }
    });
  });

  describe('Galera (wsrep_on)', () => {
    const syncWaitOf = async (url: string) => {
      const pool = new LeasePool(url, 3_000);
      try {
        const { rows } = await pool.run(3_000, (query) =>
          query('SELECT @@SESSION.wsrep_sync_wait AS syncWait', []),
        );
        return Number(rows[0].syncWait);
      } finally {
        await pool.close();
      }
    };

    it('on a (single-node) Galera cluster every lease session reads causally: wsrep_sync_wait = 1', async () => {
      const galeraPort = await freePort();
      const istPort = await freePort();
      const server = await startThrowawayServer(
        undefined,
        [
          '--wsrep-on=ON',
          '--wsrep-provider=/usr/lib/galera/libgalera_smm.so',
          '--wsrep-cluster-address=gcomm://',
          `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${galeraPort};ist.recv_addr=127.0.0.1:${istPort}`,
          '--wsrep-node-address=127.0.0.1',
          '--binlog-format=ROW',
          '--innodb-autoinc-lock-mode=2',
        ],
        90_000,
      );
      try {
        expect(await syncWaitOf(server.url)).toBe(1);
      } finally {
        await server.stop();
      }
    }, 120_000);

    it('without Galera the session keeps the server default wsrep_sync_wait', async () => {
      const rows = await createConnection({ uri: mysqlUrl() }).then(async (conn) => {
        const [result] = await conn.query('SELECT @@wsrep_sync_wait AS syncWait');
        await conn.end();
        return result as { syncWait: number }[];
      });
      expect(await syncWaitOf(mysqlUrl())).toBe(Number(rows[0].syncWait));
    });
  });
});
