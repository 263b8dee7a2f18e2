import { sql, type Kysely, type Migration, type RawBuilder } from 'kysely';
import { compilerOnly } from './mysql-compiler';

/** Default name of the lease table. */
export const DEFAULT_LEASE_TABLE = 'leader_election_lease';

/** Column widths, so that options can be validated before they reach the database. */
export const LEASE_NAME_MAX_LENGTH = 191;
export const LEASE_HOLDER_MAX_LENGTH = 191;

/** The value `expires_at` takes on release and before the first acquisition: always in the past. */
export const EXPIRED_AT = '1970-01-01 00:00:01';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

/** True when `name` can be used as the lease table's name without quoting surprises. */
export function isValidTableName(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** The `CREATE TABLE IF NOT EXISTS` statement of the lease table, as a kysely raw builder. */
export function leaseTableDdl(tableName: string = DEFAULT_LEASE_TABLE): RawBuilder<unknown> {
  if (!isValidTableName(tableName)) {
    throw new TypeError(`Invalid lease table name "${tableName}": use letters, digits and _ only.`);
  }
  return sql`CREATE TABLE IF NOT EXISTS ${sql.table(tableName)} (
  name        VARCHAR(191)    NOT NULL PRIMARY KEY,
  holder      VARCHAR(191)    NOT NULL DEFAULT '',
  term        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  acquired_at DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  renewed_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  expires_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01'
) ENGINE=InnoDB`;
}

/**
 * The lease table's DDL as plain SQL text, for teams that apply schema changes through their own tooling
 * and run the module with `createTable: false`.
 *
 * @example
 * console.log(createLeaseTableSql('leader_election_lease'));
 */
export function createLeaseTableSql(tableName: string = DEFAULT_LEASE_TABLE): string {
  const ddl = leaseTableDdl(tableName);
  // The DDL has no parameters; compiling with a throwaway compiler yields its text.
  return ddl.compile(compilerOnly).sql;
}

/**
 * A kysely migration that creates (and on `down`, drops) the lease table.
 *
 * @example
 * const migrator = new Migrator({ db, provider: { getMigrations: async () => ({
 *   '2026_01_01_leader_election': createLeaseTableMigration(),
 * }) } });
 */
export function createLeaseTableMigration(tableName: string = DEFAULT_LEASE_TABLE): Migration {
  return {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely's Migration signature
    async up(db: Kysely<any>): Promise<void> {
      await leaseTableDdl(tableName).execute(db);
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely's Migration signature
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable(tableName).ifExists().execute();
    },
  };
}
