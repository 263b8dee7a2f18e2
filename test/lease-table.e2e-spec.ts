import { Kysely, MysqlDialect } from 'kysely';
import { createPool } from 'mysql2';
import { LeaseStoreError } from '../libs/leader-election/src/store/lease-store';
import {
  addFenceSeqColumnSql,
  addHandoverColumnSql,
  createLeaseTableMigration,
  createLeaseTableSql,
  upgradeLeaseTableSql,
} from '../libs/leader-election/src/store/lease-table';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { createTestDatabase, mysqlUrl, withDatabase, type TestDatabase } from './support/database';

// The lease table itself: how names compare, and what happens with tables made by earlier versions.

/** The table as version 0.1.0 created it: `name` and `holder` in the server's default collation. */
const TABLE_0_1_0 = (table: string) => `CREATE TABLE ${table} (
  name        VARCHAR(191)    NOT NULL PRIMARY KEY,
  holder      VARCHAR(191)    NOT NULL DEFAULT '',
  term        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  acquired_at DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  renewed_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  expires_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01'
) ENGINE=InnoDB`;

describe('lease table', () => {
  let db: TestDatabase;
  const stores: MysqlLeaseStore[] = [];
  const newStore = (tableName: string) => {
    const store = new MysqlLeaseStore({ connection: db.url, tableName, operationTimeoutMs: 3_000 });
    stores.push(store);
    return store;
  };
  const collations = async (table: string) => {
    const rows = await db.query<{ c: string; n: string }[]>(
      `SELECT COLUMN_NAME AS n, COLLATION_NAME AS c FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME IN ('name', 'holder')
       ORDER BY COLUMN_NAME`,
      [table],
    );
    return rows.map((row) => row.c);
  };

  beforeAll(async () => {
    db = await createTestDatabase('lease_table');
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await db.drop();
  });

  it("names that differ only in case or trailing spaces ('jobs', 'Jobs', 'jobs ') are three elections with independent terms", async () => {
    const store = newStore('lease_exact_names');
    await store.ensureSchema();
    const names = ['jobs', 'Jobs', 'jobs '];
    for (const name of names) await store.ensureRow(name);
    for (const [i, name] of names.entries()) {
      expect(await store.acquire(name, `holder-${i}`, 0, 30_000)).toBe(true);
    }
    // A second term in one of them leaves the others where they were.
    expect(await store.release('Jobs', 'holder-1', 1)).toBe(true);
    expect(await store.acquire('Jobs', 'holder-x', 1, 30_000)).toBe(true);
    expect(await store.read('jobs')).toMatchObject({ holder: 'holder-0', term: 1 });
    expect(await store.read('Jobs')).toMatchObject({ holder: 'holder-x', term: 2 });
    expect(await store.read('jobs ')).toMatchObject({ holder: 'holder-2', term: 1 });
    const rows = await db.query<{ name: string }[]>('SELECT name FROM lease_exact_names');
    expect(rows.map((row) => row.name).sort()).toEqual([...names].sort());
  });

  it("the table of createLeaseTableMigration() keeps 'jobs' and 'jobs ' apart too (createTable: false)", async () => {
    const kysely = new Kysely<Record<string, never>>({
      dialect: new MysqlDialect({ pool: createPool({ uri: db.url, connectionLimit: 1 }) }),
    });
    try {
      await createLeaseTableMigration('lease_migrated_names').up(kysely);
    } finally {
      await kysely.destroy();
    }
    const store = newStore('lease_migrated_names');
    for (const name of ['jobs', 'jobs ']) await store.ensureRow(name);
    expect(await store.acquire('jobs', 'holder-a', 0, 30_000)).toBe(true);
    expect(await store.acquire('jobs ', 'holder-b', 0, 30_000)).toBe(true);
  });

  it("holders that differ only in case are different holders: one cannot renew or release the other's lease", async () => {
    const store = newStore('lease_exact_holders');
    await store.ensureSchema();
    await store.ensureRow('jobs');
    expect(await store.acquire('jobs', 'host-a', 0, 30_000)).toBe(true);
    expect(await store.renew('jobs', 'HOST-A', 1, 30_000)).toBe(false);
    expect(await store.release('jobs', 'HOST-A', 1)).toBe(false);
    expect(await store.read('jobs')).toMatchObject({ holder: 'host-a', term: 1, valid: true });
  });

  it('ensureSchema (createTable: true) migrates a 0.1.0 table to byte-wise names and keeps its rows', async () => {
    await db.query(TABLE_0_1_0('lease_old_migrated'));
    await db.query("INSERT INTO lease_old_migrated (name, holder, term) VALUES ('jobs', 'old-holder', 7)");
    expect((await collations('lease_old_migrated')).every((c) => !c.endsWith('_bin'))).toBe(true);

    const store = newStore('lease_old_migrated');
    await store.ensureSchema();
    const after = await collations('lease_old_migrated');
    expect(after).toHaveLength(2);
    expect(after.every((c) => c.endsWith('_bin'))).toBe(true);
    expect(await store.read('jobs')).toMatchObject({ holder: 'old-holder', term: 7 });
    await store.ensureRow('Jobs');
    expect(await store.acquire('Jobs', 'new-holder', 0, 30_000)).toBe(true);
    expect(await store.read('jobs')).toMatchObject({ holder: 'old-holder', term: 7 });
  });

  it('with createTable: false, a 0.1.0 table fails as a configuration error whose message gives the ALTER TABLE to run', async () => {
    await db.query(TABLE_0_1_0('lease_old_reported'));
    const store = newStore('lease_old_reported');
    const error = await store.ensureRow('jobs').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseStoreError);
    expect((error as LeaseStoreError).kind).toBe('configuration');
    const upgrade = upgradeLeaseTableSql('lease_old_reported');
    expect((error as LeaseStoreError).message).toContain(upgrade);
    // Nothing was changed behind the user's back; running the statement given fixes it.
    expect((await collations('lease_old_reported')).every((c) => !c.endsWith('_bin'))).toBe(true);
    await db.query(upgrade);
    await db.query(addFenceSeqColumnSql('lease_old_reported'));
    // The column of handovers to a chosen candidate came later still: named the same way.
    const missing = await store.ensureRow('jobs').catch((e: unknown) => e);
    expect((missing as LeaseStoreError).message).toContain(addHandoverColumnSql('lease_old_reported'));
    await db.query(addHandoverColumnSql('lease_old_reported'));
    await store.ensureRow('jobs');
    await store.ensureRow('Jobs');
    expect(await store.acquire('Jobs', 'a', 0, 30_000)).toBe(true);
    expect(await store.read('jobs')).toMatchObject({ term: 0 });
  });

  /** The table as the versions before the Galera fence created it: no `fence_seq`. */
  const tableWithoutFenceSeq = async (table: string) => {
    await db.query(createLeaseTableSql(table));
    await db.query(`ALTER TABLE ${table} DROP COLUMN fence_seq`);
  };
  const hasFenceSeq = async (table: string) =>
    (
      await db.query<unknown[]>(
        `SELECT 1 FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'fence_seq'`,
        [table],
      )
    ).length === 1;

  it('ensureSchema (createTable: true) adds fence_seq to a lease table of an earlier version and keeps its rows', async () => {
    await tableWithoutFenceSeq('lease_no_seq_migrated');
    await db.query("INSERT INTO lease_no_seq_migrated (name, holder, term) VALUES ('jobs', 'old-holder', 7)");
    const store = newStore('lease_no_seq_migrated');
    await store.ensureSchema();
    expect(await hasFenceSeq('lease_no_seq_migrated')).toBe(true);
    expect(await store.read('jobs')).toMatchObject({ holder: 'old-holder', term: 7 });
    // A second instance starting later finds the column and changes nothing.
    await newStore('lease_no_seq_migrated').ensureSchema();
  });

  it('ensureSchema (createTable: true) adds handover_to to a lease table of an earlier version and keeps its rows', async () => {
    await db.query(createLeaseTableSql('lease_no_handover'));
    await db.query('ALTER TABLE lease_no_handover DROP COLUMN handover_to');
    await db.query("INSERT INTO lease_no_handover (name, holder, term) VALUES ('jobs', 'old-holder', 7)");
    const store = newStore('lease_no_handover');
    await store.ensureSchema();
    expect(await store.read('jobs')).toMatchObject({ holder: 'old-holder', term: 7, handoverTo: '' });
    await newStore('lease_no_handover').ensureSchema();
  });

  it('with createTable: false, a lease table without fence_seq fails as a configuration error whose message gives the ALTER TABLE to run', async () => {
    await tableWithoutFenceSeq('lease_no_seq_reported');
    const store = newStore('lease_no_seq_reported');
    const error = await store.ensureRow('jobs').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseStoreError);
    expect((error as LeaseStoreError).kind).toBe('configuration');
    const alter = addFenceSeqColumnSql('lease_no_seq_reported');
    expect((error as LeaseStoreError).message).toContain(alter);
    expect((error as LeaseStoreError).message).toContain('createTable: true');
    expect(await hasFenceSeq('lease_no_seq_reported')).toBe(false);
    await db.query(alter);
    await store.ensureRow('jobs');
    expect(await store.acquire('jobs', 'a', 0, 30_000)).toBe(true);
  });

  describe('privileges and missing pieces', () => {
    /** A user of this database with only `privileges` on `on` (a table, or `*` for the database). */
    const limitedUser = async (privileges: string, on: string) => {
      const { user, url } = await db.createUser();
      await db.query(`REVOKE ALL PRIVILEGES ON \`${db.name}\`.* FROM '${user}'@'%'`);
      await db.query(`GRANT ${privileges} ON \`${db.name}\`.${on} TO '${user}'@'%'`);
      return url;
    };
    const storeAs = (url: string, tableName: string) => {
      const store = new MysqlLeaseStore({ connection: url, tableName, operationTimeoutMs: 3_000 });
      stores.push(store);
      return store;
    };
    const failure = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LeaseStoreError);
      return error as LeaseStoreError;
    };

    it('createTable: true works for a user with only SELECT, INSERT, UPDATE on an existing lease table', async () => {
      await newStore('lease_no_create').ensureSchema();
      const url = await limitedUser('SELECT, INSERT, UPDATE', 'lease_no_create');
      const store = storeAs(url, 'lease_no_create');
      await store.ensureSchema();
      await store.ensureRow('jobs');
      expect(await store.acquire('jobs', 'limited', 0, 30_000)).toBe(true);
    });

    it('createTable: true without CREATE privilege and no table fails as a configuration error that gives the DDL to run', async () => {
      const url = await limitedUser('SELECT, INSERT, UPDATE', '*');
      const error = await failure(storeAs(url, 'lease_denied_missing').ensureSchema());
      expect(error.kind).toBe('configuration');
      expect(error.message).toMatch(/CREATE TABLE IF NOT EXISTS `lease_denied_missing`/);
      expect(error.message).toContain('createTable: false');
    });

    it('createTable: false with the lease table missing fails as a configuration error naming createLeaseTableSql() and createTable: true', async () => {
      const error = await failure(newStore('lease_never_made').ensureRow('jobs'));
      expect(error.kind).toBe('configuration');
      expect(error.message).toContain("createLeaseTableSql('lease_never_made')");
      expect(error.message).toContain('createTable: true');
      expect(createLeaseTableSql('lease_never_made')).toMatch(/lease_never_made/);
    });

    it('a connection URI without a database fails as a configuration error that says to put the database in the URI', async () => {
      const store = storeAs(withDatabase(mysqlUrl(), ''), 'lease_no_database');
      for (const step of [() => store.ensureRow('jobs'), () => store.read('jobs')]) {
        const error = await failure(step());
        expect(error.kind).toBe('configuration');
        expect(error.message).toContain('mysql://user:pass@host:3306/<database>');
      }
    });
  });
});
