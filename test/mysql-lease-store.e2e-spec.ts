import { randomBytes } from 'node:crypto';
import { createPool } from 'mysql2';
import { createConnection, type Connection } from 'mysql2/promise';
import { Kysely, Migrator, MysqlDialect } from 'kysely';
import { createLeaseTableMigration, createLeaseTableSql, DEFAULT_LEASE_TABLE } from 'nestjs-leader-election';
import { createTestDatabase, mysqlUrl, withDatabase, type TestDatabase } from './support/database';
import { freePort } from '../tools/mysql-server';
import { LeaseStoreError } from '../libs/leader-election/src/store/lease-store';
import {
  MysqlLeaseStore,
  type MysqlLeaseStoreOptions,
} from '../libs/leader-election/src/store/mysql-lease-store';

// The lease store against the real server, what only MySQL shows: the schema, the columns each statement
// writes, its deadline, and how it recovers from connections that die. The behaviours every LeaseStore
// shares are in the contract (test/support/lease-store-contract.ts, run by
// test/mysql-lease-store-contract.e2e-spec.ts). No test here uses the default table name, so that the
// "configurable table name" test can check that the default table was never created.

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The columns of docs/design.md, normalized (MariaDB reports `bigint(20)`, MySQL 8 `bigint`). */
const DESIGN_COLUMNS = [
  { name: 'name', type: 'varchar(191)', nullable: 'NO', default: null, key: 'PRI' },
  { name: 'holder', type: 'varchar(191)', nullable: 'NO', default: '', key: '' },
  { name: 'term', type: 'bigint unsigned', nullable: 'NO', default: '0', key: '' },
  { name: 'acquired_at', type: 'datetime(6)', nullable: 'NO', default: '1970-01-01 00:00:01', key: '' },
  { name: 'renewed_at', type: 'datetime(6)', nullable: 'NO', default: '1970-01-01 00:00:01', key: '' },
  { name: 'expires_at', type: 'datetime(6)', nullable: 'NO', default: '1970-01-01 00:00:01', key: '' },
  { name: 'fence_seq', type: 'bigint unsigned', nullable: 'NO', default: '0', key: '' },
  { name: 'handover_to', type: 'varchar(191)', nullable: 'NO', default: '', key: '' },
];

describe('MysqlLeaseStore on a real MariaDB', () => {
  let db: TestDatabase;
  let admin: Connection;
  const stores: MysqlLeaseStore[] = [];
  const extraConnections: Connection[] = [];
  const extraDatabases: TestDatabase[] = [];

  const newStore = (tableName: string, overrides: Partial<MysqlLeaseStoreOptions> = {}) => {
    const store = new MysqlLeaseStore({
      connection: db.url,
      tableName,
      operationTimeoutMs: 3_000,
      ...overrides,
    });
    stores.push(store);
    return store;
  };
  /** A store on a fresh table with its schema and one election row in place. */
  const storeWithRow = async (
    tableName: string,
    election = 'e1',
    overrides: Partial<MysqlLeaseStoreOptions> = {},
  ) => {
    const store = newStore(tableName, overrides);
    await store.ensureSchema();
    await store.ensureRow(election);
    return store;
  };
  const rawRow = async (tableName: string, election: string) => {
    const rows = await db.query<Record<string, unknown>[]>(
      `SELECT name, holder, term, acquired_at, renewed_at, expires_at FROM \`${tableName}\` WHERE name = ?`,
      [election],
    );
    return rows;
  };
  const columnsOf = async (schema: string, tableName: string) => {
    const rows = await admin.query(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt,
              COLUMN_KEY AS k
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, tableName],
    );
    return (rows[0] as Record<string, unknown>[]).map((row) => ({
      name: String(row.name),
      type: String(row.type).replace(/^bigint\(\d+\)/, 'bigint'),
      nullable: String(row.nullable),
      default: normalizeDefault(row.dflt),
      key: String(row.k),
    }));
  };
  const engineOf = async (schema: string, tableName: string) => {
    const [rows] = await admin.query(
      'SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [schema, tableName],
    );
    return (rows as { engine: string }[])[0]?.engine;
  };
  /** Ids and statements of the server threads connected to `schema`, other than `exclude`. */
  const threadsOn = async (schema: string, exclude: number[] = []) => {
    const [rows] = await admin.query(
      'SELECT ID AS id, INFO AS info FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [schema],
    );
    return (rows as { id: number; info: string | null }[])
      .map((row) => ({ id: Number(row.id), info: row.info }))
      .filter((row) => !exclude.includes(row.id));
  };
  /** Opens a session that holds the election's row with `SELECT ... FOR UPDATE` in an open transaction. */
  const lockRow = async (tableName: string, election: string, url = db.url) => {
    const locker = await createConnection({ uri: url });
    extraConnections.push(locker);
    await locker.beginTransaction();
    await locker.query(`SELECT * FROM \`${tableName}\` WHERE name = ? FOR UPDATE`, [election]);
    const [[{ id }]] = (await locker.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    return { locker, lockerId: Number(id) };
  };
  const waitFor = async <T>(
    probe: () => Promise<T | undefined>,
    timeoutMs: number,
    what: string,
  ): Promise<T> => {
    const start = Date.now();
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() - start > timeoutMs)
        throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
      await sleep(20);
    }
  };
  const expectStoreError = async (promise: Promise<unknown>): Promise<LeaseStoreError> => {
    const error = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(LeaseStoreError);
    return error as LeaseStoreError;
  };

  beforeAll(async () => {
    db = await createTestDatabase('lease_store');
    admin = await createConnection({ uri: mysqlUrl() });
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(extraConnections.splice(0).map((conn) => conn.end().catch(() => undefined)));
    await Promise.all(extraDatabases.splice(0).map((extra) => extra.drop()));
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  describe('schema', () => {
    it('ensureSchema creates an InnoDB table with the columns, types, defaults and primary key of docs/design.md', async () => {
      const store = newStore('lease_schema');
      await store.ensureSchema();
      expect(await columnsOf(db.name, 'lease_schema')).toEqual(DESIGN_COLUMNS);
      expect(await engineOf(db.name, 'lease_schema')).toBe('InnoDB');
    });

    it('createLeaseTableSql() and createLeaseTableMigration() from the barrel create the same table as ensureSchema', async () => {
      await newStore('lease_by_store').ensureSchema();
      await db.query(createLeaseTableSql('lease_by_sql'));
      const kysely = new Kysely<Record<string, never>>({
        dialect: new MysqlDialect({ pool: createPool({ uri: db.url, connectionLimit: 1 }) }),
      });
      try {
        const migrator = new Migrator({
          db: kysely,
          provider: {
            getMigrations: async () => ({
              '0001_leader_election': createLeaseTableMigration('lease_by_migration'),
            }),
          },
        });
        const up = await migrator.migrateToLatest();
        expect(up.error).toBeUndefined();
        expect(up.results?.map((r) => [r.migrationName, r.status])).toEqual([
          ['0001_leader_election', 'Success'],
        ]);

        const byStore = await columnsOf(db.name, 'lease_by_store');
        expect(byStore).toEqual(DESIGN_COLUMNS);
        expect(await columnsOf(db.name, 'lease_by_sql')).toEqual(byStore);
        expect(await columnsOf(db.name, 'lease_by_migration')).toEqual(byStore);
        expect(await engineOf(db.name, 'lease_by_sql')).toBe('InnoDB');
        expect(await engineOf(db.name, 'lease_by_migration')).toBe('InnoDB');

        // The table made by the migration works for the store.
        const store = await storeWithRow('lease_by_migration');
        expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);

        // `down` drops it again.
        const down = await migrator.migrateDown();
        expect(down.error).toBeUndefined();
        expect(await engineOf(db.name, 'lease_by_migration')).toBeUndefined();
      } finally {
        await kysely.destroy();
      }
    });

    it('createLeaseTableSql() names the default table leader_election_lease and the given one otherwise', () => {
      expect(DEFAULT_LEASE_TABLE).toBe('leader_election_lease');
      expect(createLeaseTableSql()).toMatch(/create table if not exists `leader_election_lease`/i);
      expect(createLeaseTableSql('my_leases')).toMatch(/create table if not exists `my_leases`/i);
      expect(() => createLeaseTableSql('a-b')).toThrow(/a-b/);
    });

    it('the table name is configurable: every statement goes to the named table and the default one is never created', async () => {
      const store = await storeWithRow('custom_leases', 'jobs');
      expect(await store.acquire('jobs', 'a', 0, 5_000)).toBe(true);
      expect(await store.renew('jobs', 'a', 1, 5_000)).toBe(true);
      expect(await store.read('jobs')).toMatchObject({ holder: 'a', term: 1, valid: true });
      expect(await store.release('jobs', 'a', 1)).toBe(true);
      expect(await rawRow('custom_leases', 'jobs')).toEqual([
        expect.objectContaining({ holder: 'a', term: 1 }),
      ]);
      expect(await engineOf(db.name, DEFAULT_LEASE_TABLE)).toBeUndefined();
    });

    it('a statement on a lease table that does not exist fails as a configuration error (1146)', async () => {
      const store = newStore('lease_never_created');
      const error = await expectStoreError(store.read('e1'));
      expect(error.kind).toBe('configuration');
      expect(error.code).toBe(1146);
    });
  });

  describe('rows and statements', () => {
    it('acquire with the observed term wins and sets term = observed + 1, holder and timestamps', async () => {
      const store = await storeWithRow('lease_acquire');
      expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
      const [row] = await rawRow('lease_acquire', 'e1');
      expect(row).toMatchObject({ holder: 'a', term: 1 });
      expect(row.acquired_at).toBe(row.renewed_at);
      expect(String(row.acquired_at) > '1970-01-02').toBe(true);
      const [[check]] = (await admin.query(
        `SELECT TIMESTAMPDIFF(MICROSECOND, acquired_at, expires_at) AS lease_us FROM \`${db.name}\`.lease_acquire WHERE name = 'e1'`,
      )) as unknown as [[{ lease_us: number }]];
      expect(Number(check.lease_us)).toBe(5_000_000);
    });

    it('renewMany and readMany cover exactly the listed leases, whatever list length came before', async () => {
      const store = await storeWithRow('lease_many', 'm1');
      for (const name of ['m2', 'm3']) await store.ensureRow(name);
      for (const name of ['m1', 'm2', 'm3']) expect(await store.acquire(name, 'a', 0, 5_000)).toBe(true);
      const expiry = async () => {
        const rows = [];
        for (const name of ['m1', 'm2', 'm3']) rows.push(...(await rawRow('lease_many', name)));
        return Object.fromEntries(
          rows.map((row) => [String(row.name), new Date(row.expires_at as string | Date).getTime()]),
        );
      };
      const before = await expiry();
      await sleep(20);
      // Three listed, one at a term it does not hold: two renewed.
      const lease = (name: string, term: number) => ({ name, term });
      expect(await store.renewMany('a', [lease('m1', 1), lease('m2', 1), lease('m3', 7)], 9_000)).toBe(2);
      const after = await expiry();
      expect(after.m1 > before.m1 && after.m2 > before.m2).toBe(true);
      expect(after.m3).toBe(before.m3);
      // A shorter list, then a longer one again: each covers its own leases only.
      expect(await store.renewMany('a', [lease('m3', 1)], 9_000)).toBe(1);
      expect(await store.renewMany('b', [lease('m1', 1), lease('m2', 1)], 9_000)).toBe(0);
      expect([...(await store.readMany(['m1', 'm3'])).keys()].sort()).toEqual(['m1', 'm3']);
      const all = await store.readMany(['m1', 'm2', 'm3', 'absent']);
      expect([...all.keys()].sort()).toEqual(['m1', 'm2', 'm3']);
      expect(all.get('m2')).toMatchObject({ holder: 'a', term: 1, valid: true });
      expect([...(await store.readMany(['m2'])).keys()]).toEqual(['m2']);
    });

    it('renewMany and readMany bind the values of a round once: later rounds with the same names and terms reuse the text, a new term is bound anew', async () => {
      // mysql2's own escaping, as the store calls it (the module object, not a copy: the spy is seen).
      const mysql2 = jest.requireActual<typeof import('mysql2')>('mysql2');
      const quoted = "b'2?";
      const store = await storeWithRow('lease_bound', 'b1');
      await store.ensureRow(quoted);
      for (const name of ['b1', quoted]) expect(await store.acquire(name, 'a', 0, 5_000)).toBe(true);
      const leases = (quotedTerm: number) => [
        { name: 'b1', term: 1 },
        { name: quoted, term: quotedTerm },
      ];
      const formatted = jest.spyOn(mysql2, 'format');
      // What a query with values costs each time: the connection escapes and splices every value.
      const perQuery = jest.spyOn(mysql2.Connection.prototype, 'format');
      const withValues = () => perQuery.mock.calls.filter(([, values]) => [values].flat().length > 0);
      try {
        for (let round = 0; round < 3; round++) {
          expect(await store.renewMany('a', leases(1), 9_000)).toBe(2);
          expect([...(await store.readMany(['b1', quoted])).keys()].sort()).toEqual([quoted, 'b1']);
        }
        // One renewal text and one read text for the three rounds, and no values spliced per query.
        expect(withValues()).toEqual([]);
        expect(formatted).toHaveBeenCalledTimes(2);
        // The quoted lease taken again, at term 2: the text bound for term 1 would not renew it.
        expect(await store.acquire(quoted, 'a', 1, 5_000)).toBe(true);
        expect(await store.renewMany('a', leases(2), 9_000)).toBe(2);
        expect(await store.renewMany('a', leases(1), 9_000)).toBe(1);
        expect(formatted).toHaveBeenCalledTimes(4);
        // A list changed in place and passed again is bound anew, not taken for the list bound before.
        const names = ['b1'];
        expect([...(await store.readMany(names)).keys()]).toEqual(['b1']);
        names.push(quoted);
        expect([...(await store.readMany(names)).keys()].sort()).toEqual([quoted, 'b1']);
      } finally {
        formatted.mockRestore();
        perQuery.mockRestore();
      }
    });

    it('renew extends the lease only for the matching holder and term while it is unexpired', async () => {
      const store = await storeWithRow('lease_renew');
      expect(await store.acquire('e1', 'a', 0, 2_000)).toBe(true);
      await sleep(300);
      const before = await rawRow('lease_renew', 'e1');
      expect(await store.renew('e1', 'b', 1, 5_000)).toBe(false);
      expect(await store.renew('e1', 'a', 2, 5_000)).toBe(false);
      expect(await store.renew('e1', 'a', 0, 5_000)).toBe(false);
      expect(await store.renew('other', 'a', 1, 5_000)).toBe(false);
      expect(await rawRow('lease_renew', 'e1')).toEqual(before);

      expect(await store.renew('e1', 'a', 1, 5_000)).toBe(true);
      const [after] = await rawRow('lease_renew', 'e1');
      expect(after).toMatchObject({ holder: 'a', term: 1, acquired_at: before[0].acquired_at });
      expect(String(after.renewed_at) > String(before[0].renewed_at)).toBe(true);
      expect(String(after.expires_at) > String(before[0].expires_at)).toBe(true);
      expect((await store.read('e1'))!.remainingUs).toBeGreaterThan(4_000_000);
    });

    it('release expires the lease at once but keeps holder and term, and only for the matching holder and term', async () => {
      const store = await storeWithRow('lease_release');
      expect(await store.acquire('e1', 'a', 0, 10_000)).toBe(true);
      expect(await store.release('e1', 'b', 1)).toBe(false);
      expect(await store.release('e1', 'a', 2)).toBe(false);
      expect((await store.read('e1'))!.valid).toBe(true);

      expect(await store.release('e1', 'a', 1)).toBe(true);
      const row = (await store.read('e1'))!;
      expect(row).toMatchObject({ holder: 'a', term: 1, valid: false });
      expect(row.remainingUs).toBeLessThan(0);
      const [raw] = await rawRow('lease_release', 'e1');
      expect(String(raw.expires_at)).toMatch(/^1970-01-01 00:00:01/);

      // The next acquisition, by anyone, takes the next term at once.
      expect(await store.acquire('e1', 'b', 1, 5_000)).toBe(true);
      expect(await store.read('e1')).toMatchObject({ holder: 'b', term: 2, valid: true });
    });

    it("release with the doorbell's lock in hand frees the row and the lock in one statement: the standby it wakes wins its compare-and-swap at once", async () => {
      const leader = await storeWithRow('lease_release_ringing');
      const standby = newStore('lease_release_ringing');
      expect(await leader.acquire('e1', 'a', 0, 10_000)).toBe(true);
      const bell = leader.openDoorbell('e1');
      const standbyBell = standby.openDoorbell('e1');
      try {
        expect(await bell.hold()).toBe(true);
        const woken = standbyBell.wait(10_000);
        await waitFor(
          async () => {
            const rows = await db.query<unknown[]>(
              "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND STATE = 'User lock'",
              [db.name],
            );
            return rows.length === 1 ? rows : undefined;
          },
          5_000,
          'the standby to wait on the lock',
        );

        // Not the holder's term: nothing released, and the lock stays where it was.
        expect(await leader.release('e1', 'a', 2, undefined, bell)).toBe(false);
        expect(bell.held).toBe(true);
        expect((await leader.read('e1'))!.valid).toBe(true);

        const startedAt = Date.now();
        expect(await leader.release('e1', 'a', 1, undefined, bell)).toBe(true);
        expect(bell.held).toBe(false);
        expect(await woken).toBe('rung');
        expect(Date.now() - startedAt).toBeLessThan(2_000); // not the wait's own 10 s
        expect(await standby.acquireFree('e1', 'b', 1, 10_000)).toBe(2);
        expect(await standby.read('e1')).toMatchObject({ holder: 'b', term: 2, valid: true });
      } finally {
        await Promise.all([bell.close(), standbyBell.close()]);
      }
    });

    it('acquireFree takes a released or expired lease at the next term the server picks, in one statement, and never a valid one', async () => {
      const store = await storeWithRow('lease_acquire_free');
      // A valid lease of somebody else: nothing changes.
      expect(await store.acquire('e1', 'a', 0, 10_000)).toBe(true);
      expect(await store.acquireFree('e1', 'b', 0, 10_000)).toBeUndefined();
      expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });

      // Terms moved on since b last read (b still knows term 0): after a release b takes term 3 anyway.
      expect(await store.release('e1', 'a', 1)).toBe(true);
      expect(await store.acquire('e1', 'c', 1, 10_000)).toBe(true);
      expect(await store.release('e1', 'c', 2)).toBe(true);
      expect(await store.acquireFree('e1', 'b', 0, 10_000)).toBe(3);
      expect(await store.read('e1')).toMatchObject({ holder: 'b', term: 3, valid: true });

      // Above every term the candidate has seen, even when the row's term is lower (a re-created row).
      await db.query("UPDATE lease_acquire_free SET expires_at = '1970-01-01 00:00:01' WHERE name = 'e1'");
      expect(await store.acquireFree('e1', 'c', 41, 10_000)).toBe(42);
      expect(await store.read('e1')).toMatchObject({ holder: 'c', term: 42, valid: true });
      // Its own valid lease (e.g. handed to it): taken at a new term.
      expect(await store.acquireFree('e1', 'c', 42, 10_000)).toBe(43);
      // Terms beyond 2^32 come back exactly.
      await db.query(
        "UPDATE lease_acquire_free SET term = 5000000000, expires_at = '1970-01-01 00:00:01' WHERE name = 'e1'",
      );
      expect(await store.acquireFree('e1', 'd', 43, 10_000)).toBe(5_000_000_001);
    });

    it('read reports validity and remaining time on the database clock, remaining close to L right after acquire', async () => {
      const store = await storeWithRow('lease_read_clock');
      expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
      const row = (await store.read('e1'))!;
      expect(row.valid).toBe(true);
      expect(row.remainingUs).toBeLessThanOrEqual(5_000_000);
      expect(row.remainingUs).toBeGreaterThan(4_000_000);

      // Expiry set by another session on the server's clock, in UTC, is read back as such, whatever that
      // session's time zone: 3 s ahead is valid with about 3 s left, 2 s behind is expired by about 2 s.
      const other = await createConnection({ uri: db.url });
      extraConnections.push(other);
      await other.query("SET time_zone = '+09:00'");
      await other.query(
        "UPDATE lease_read_clock SET expires_at = UTC_TIMESTAMP(6) + INTERVAL 3 SECOND WHERE name = 'e1'",
      );
      const ahead = (await store.read('e1'))!;
      expect(ahead.valid).toBe(true);
      expect(ahead.remainingUs).toBeGreaterThan(2_000_000);
      expect(ahead.remainingUs).toBeLessThanOrEqual(3_000_000);
      await other.query(
        "UPDATE lease_read_clock SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 2 SECOND WHERE name = 'e1'",
      );
      const behind = (await store.read('e1'))!;
      expect(behind.valid).toBe(false);
      expect(behind.remainingUs).toBeLessThanOrEqual(-2_000_000);
      expect(behind.remainingUs).toBeGreaterThan(-3_000_000);
    });

    it('terms beyond 2^32 round-trip exactly through acquire and read', async () => {
      const store = await storeWithRow('lease_big_term');
      await db.query("UPDATE lease_big_term SET term = 5000000000 WHERE name = 'e1'");
      expect(await store.read('e1')).toMatchObject({ term: 5_000_000_000 });
      expect(await store.acquire('e1', 'a', 5_000_000_000, 5_000)).toBe(true);
      expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 5_000_000_001 });
    });
  });

  describe('deadlines and dying connections', () => {
    it('a statement blocked on a row lock fails as not-applied (1205) within the deadline and the store keeps working', async () => {
      const store = await storeWithRow('lease_lock_wait', 'e1', { operationTimeoutMs: 4_000 });
      const { locker } = await lockRow('lease_lock_wait', 'e1');

      const start = Date.now();
      const error = await expectStoreError(store.acquire('e1', 'a', 0, 5_000));
      const elapsed = Date.now() - start;
      // The session's innodb_lock_wait_timeout = 1 s ends the wait, well before the 4 s deadline (and the
      // server's default of 50 s).
      expect(error.kind).toBe('not-applied');
      expect(error.code).toBe(1205);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(3_500);

      // The lock still held: reads are not blocked. Once it is gone, the CAS goes through.
      expect(await store.read('e1')).toMatchObject({ holder: '', term: 0 });
      await locker.rollback();
      expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
      expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
    });

    it('a statement blocked longer than the operation deadline fails as outcome-unknown and its connection is destroyed', async () => {
      const store = await storeWithRow('lease_deadline', 'e1', { operationTimeoutMs: 400 });
      const { locker, lockerId } = await lockRow('lease_deadline', 'e1');

      const start = Date.now();
      const pending = expectStoreError(store.acquire('e1', 'a', 0, 5_000));
      // The blocked statement is visible on the server: remember its connection.
      const blocked = await waitFor(
        async () =>
          (await threadsOn(db.name, [lockerId])).find((t) => /UPDATE\s+`lease_deadline`/i.test(t.info ?? '')),
        5_000,
        'the blocked UPDATE',
      );
      const error = await pending;
      const elapsed = Date.now() - start;
      expect(error.kind).toBe('outcome-unknown');
      expect(error.code).toBe('DEADLINE');
      expect(error.message).toMatch(/400 ms/);
      expect(elapsed).toBeGreaterThanOrEqual(350);
      expect(elapsed).toBeLessThan(3_000);

      // The next operation works at once, while the lock is still held...
      expect(await store.read('e1')).toMatchObject({ holder: '', term: 0 });
      // ...and the connection that missed its deadline was closed, not returned to the pool.
      await waitFor(
        async () => ((await threadsOn(db.name)).some((t) => t.id === blocked.id) ? undefined : true),
        10_000,
        `connection ${blocked.id} to close`,
      );
      await locker.rollback();
      expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
    });

    it('KILL CONNECTION of idle lease connections: the next statement fails as outcome-unknown or succeeds on a fresh connection, and the store recovers', async () => {
      // A database of its own, so that every thread on it is one of this store's.
      const own = await createTestDatabase('lease_kill_idle');
      extraDatabases.push(own);
      const store = new MysqlLeaseStore({
        connection: own.url,
        tableName: 'lease_kill',
        operationTimeoutMs: 3_000,
      });
      stores.push(store);
      await store.ensureSchema();
      await store.ensureRow('e1');
      expect(await store.acquire('e1', 'a', 0, 10_000)).toBe(true);
      const before = await threadsOn(own.name);
      expect(before.length).toBeGreaterThanOrEqual(1);
      for (const thread of before) await admin.query(`KILL CONNECTION ${thread.id}`);

      const first = await store.renew('e1', 'a', 1, 10_000).then(
        (renewed) => ({ renewed }),
        (error: unknown) => ({ error }),
      );
      if ('error' in first) {
        expect(first.error).toBeInstanceOf(LeaseStoreError);
        expect((first.error as LeaseStoreError).kind).toBe('outcome-unknown');
      } else {
        expect(first.renewed).toBe(true);
      }
      expect(await store.renew('e1', 'a', 1, 10_000)).toBe(true);
      expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
      const after = await threadsOn(own.name);
      expect(after.length).toBeGreaterThanOrEqual(1);
      expect(after.filter((t) => before.some((b) => b.id === t.id))).toEqual([]);
    });

    it('KILL CONNECTION of a lease connection in the middle of a statement fails it as outcome-unknown, and the store recovers', async () => {
      const store = await storeWithRow('lease_kill_busy', 'e1', { operationTimeoutMs: 5_000 });
      const { locker, lockerId } = await lockRow('lease_kill_busy', 'e1');
      const pending = expectStoreError(store.acquire('e1', 'a', 0, 5_000));
      const blocked = await waitFor(
        async () =>
          (await threadsOn(db.name, [lockerId])).find((t) =>
            /UPDATE\s+`lease_kill_busy`/i.test(t.info ?? ''),
          ),
        5_000,
        'the blocked UPDATE',
      );
      await admin.query(`KILL CONNECTION ${blocked.id}`);
      const error = await pending;
      expect(error.kind).toBe('outcome-unknown');
      await locker.rollback();
      expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
      expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
    });

    it('a port where nothing listens fails as unreachable within the deadline', async () => {
      const port = await freePort();
      const store = newStore('lease_unreachable', {
        connection: `mysql://root@127.0.0.1:${port}/${db.name}`,
        operationTimeoutMs: 2_000,
      });
      const start = Date.now();
      const error = await expectStoreError(store.read('e1'));
      expect(error.kind).toBe('unreachable');
      expect(error.code).toBe('ECONNREFUSED');
      expect(Date.now() - start).toBeLessThan(2_500);
    });

    it('a wrong password fails as configuration (1045) and no message carries the password', async () => {
      const user = `le_store_${randomBytes(4).toString('hex')}`;
      const password = `Right#${randomBytes(6).toString('hex')}`;
      const wrong = `Wr@ng/${randomBytes(6).toString('hex')}`;
      await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
      try {
        await admin.query(`GRANT ALL ON \`${db.name}\`.* TO ?@?`, [user, '%']);
        const url = new URL(withDatabase(mysqlUrl(), db.name));
        url.username = user;
        url.password = encodeURIComponent(wrong);
        const byUri = newStore('lease_wrong_password', { connection: url.toString() });
        const byOptions = newStore('lease_wrong_password', {
          connection: {
            host: url.hostname,
            port: Number(url.port || 3306),
            user,
            password: wrong,
            database: db.name,
          },
        });
        for (const store of [byUri, byOptions]) {
          const error = await expectStoreError(store.ensureSchema());
          expect(error.kind).toBe('configuration');
          expect(error.code).toBe(1045);
          expect(error.message).toMatch(/Access denied/);
          for (const secret of [wrong, encodeURIComponent(wrong), password]) {
            expect(error.message).not.toContain(secret);
            expect(String(error.stack)).not.toContain(secret);
          }
        }

        // The right password works through the same path.
        const right = new URL(url);
        right.password = encodeURIComponent(password);
        const store = await storeWithRow('lease_right_password', 'e1', { connection: right.toString() });
        expect(await store.acquire('e1', 'a', 0, 5_000)).toBe(true);
      } finally {
        await Promise.all(stores.splice(0).map((store) => store.close()));
        await admin.query('DROP USER IF EXISTS ?@?', [user, '%']);
      }
    });

    it('a closed store rejects every statement as unreachable', async () => {
      const store = await storeWithRow('lease_closed');
      await store.close();
      const error = await expectStoreError(store.read('e1'));
      expect(error.kind).toBe('unreachable');
      await store.close(); // idempotent
    });
  });
});

function normalizeDefault(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  // MariaDB quotes literal defaults and prints DATETIME(6) with its fraction; MySQL 8 does neither.
  return String(value)
    .replace(/^'(.*)'$/, '$1')
    .replace(/\.0+$/, '');
}
