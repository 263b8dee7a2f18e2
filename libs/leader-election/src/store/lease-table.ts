import { sql, type Kysely, type Migration, type RawBuilder } from 'kysely';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { invalidCollationMessage, invalidTableNameMessage } from '../leader-election.messages';
import { compilerOnly } from './mysql-compiler';

/** Default name of the lease table. */
export const DEFAULT_LEASE_TABLE = 'leader_election_lease';

/** Column widths, so that options can be validated before they reach the database. */
export const LEASE_NAME_MAX_LENGTH = 191;
export const LEASE_HOLDER_MAX_LENGTH = 191;

/** The value `expires_at` takes on release and before the first acquisition: always in the past. */
export const EXPIRED_AT = '1970-01-01 00:00:01';

/**
 * Collations of `name` and `holder`: they must compare byte for byte (with the server's default collation
 * 'jobs', 'JOBS' and 'jobs ' are one row). `utf8mb4_bin` exists on MySQL and MariaDB but ignores trailing
 * spaces; the NO PAD ones (MariaDB `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`) do not.
 */
export type LeaseKeyCollation = 'utf8mb4_bin' | 'utf8mb4_nopad_bin' | 'utf8mb4_0900_bin';

/** Valid on every supported server; `ensureSchema` uses the server's NO PAD binary collation when it has one. */
export const DEFAULT_LEASE_KEY_COLLATION: LeaseKeyCollation = 'utf8mb4_bin';

/** NO PAD binary collations, best first: MariaDB's, then MySQL 8's. */
const NO_PAD_BINARY_COLLATIONS: readonly LeaseKeyCollation[] = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'];

/**
 * The server's NO PAD binary collation (none on MySQL 5.7: then `utf8mb4_bin`). Asked by collating an
 * empty string rather than through information_schema: a query on information_schema crashed MariaDB
 * 10.11 under load here (signal 11 while creating its temporary table). `accepts` runs the statement and
 * resolves `false` when the server does not know the collation.
 */
export async function detectKeyCollation(
  accepts: (probe: RawBuilder<unknown>) => Promise<boolean>,
): Promise<LeaseKeyCollation> {
  for (const collation of NO_PAD_BINARY_COLLATIONS) {
    if (await accepts(sql`SELECT _utf8mb4'' COLLATE ${sql.raw(collation)} AS probe`)) return collation;
  }
  return DEFAULT_LEASE_KEY_COLLATION;
}

/** Errnos of a collation the server does not know (1273) or that does not fit the character set (1253). */
export const UNKNOWN_COLLATION_ERRNOS: readonly number[] = [1273, 1253];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

/** True when `name` can be used as the lease table's name without quoting surprises. */
export function isValidTableName(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** The `CREATE TABLE IF NOT EXISTS` statement of the lease table, as a kysely raw builder. */
export function leaseTableDdl(
  tableName: string = DEFAULT_LEASE_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): RawBuilder<unknown> {
  checkTableName(tableName);
  const keyType = sql.raw(`VARCHAR(191) CHARACTER SET utf8mb4 COLLATE ${checkCollation(collation)}`);
  return sql`CREATE TABLE IF NOT EXISTS ${sql.table(tableName)} (
  name        ${keyType} NOT NULL PRIMARY KEY,
  holder      ${keyType} NOT NULL DEFAULT '',
  term        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  acquired_at DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  renewed_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  expires_at  DATETIME(6)     NOT NULL DEFAULT '1970-01-01 00:00:01',
  fence_seq   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  handover_to ${keyType} NOT NULL DEFAULT ''
) ENGINE=InnoDB`;
}

/**
 * The lease table's DDL as plain SQL text, for teams that apply schema changes through their own tooling
 * and run the module with `createTable: false`.
 *
 * @example
 * console.log(createLeaseTableSql('leader_election_lease'));
 */
export function createLeaseTableSql(
  tableName: string = DEFAULT_LEASE_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): string {
  const ddl = leaseTableDdl(tableName, collation);
  // The DDL has no parameters; compiling with a throwaway compiler yields its text.
  return ddl.compile(compilerOnly).sql;
}

/**
 * The `ALTER TABLE` that upgrades a lease table created by version 0.1.0 (whose `name` and `holder` used the
 * server's default, case-insensitive collation) to byte-wise comparison. Safe on a live table: names that
 * were equal before are still equal, so the primary key stays unique.
 *
 * @example
 * console.log(upgradeLeaseTableSql('leader_election_lease'));
 */
export function upgradeLeaseTableSql(
  tableName: string = DEFAULT_LEASE_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): string {
  checkTableName(tableName);
  const keyType = `VARCHAR(191) CHARACTER SET utf8mb4 COLLATE ${checkCollation(collation)}`;
  return (
    `ALTER TABLE \`${tableName}\` MODIFY name ${keyType} NOT NULL, ` +
    `MODIFY holder ${keyType} NOT NULL DEFAULT ''`
  );
}

/**
 * The `ALTER TABLE` that adds `fence_seq` to a lease table created by an earlier version. On a Galera cluster
 * the fence of `assertLeader` / `runFenced` bumps this column inside the fenced transaction, so that
 * certification aborts a fenced transaction that races a takeover committed through another node.
 *
 * @example
 * console.log(addFenceSeqColumnSql('leader_election_lease'));
 */
export function addFenceSeqColumnSql(tableName: string = DEFAULT_LEASE_TABLE): string {
  checkTableName(tableName);
  return `ALTER TABLE \`${tableName}\` ADD COLUMN fence_seq BIGINT UNSIGNED NOT NULL DEFAULT 0`;
}

/**
 * The `ALTER TABLE` that adds `handover_to` to a lease table created by an earlier version: the candidate a
 * lease is being handed to (`resign({ to })`, `preferred`), '' otherwise (docs/design.md, "Handover to a
 * chosen candidate").
 *
 * @example
 * console.log(addHandoverColumnSql('leader_election_lease'));
 */
export function addHandoverColumnSql(
  tableName: string = DEFAULT_LEASE_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): string {
  checkTableName(tableName);
  return (
    `ALTER TABLE \`${tableName}\` ADD COLUMN handover_to ` +
    `VARCHAR(191) CHARACTER SET utf8mb4 COLLATE ${checkCollation(collation)} NOT NULL DEFAULT ''`
  );
}

/** True when a column collation compares byte for byte (any `*_bin`). */
export function isBinaryCollation(collation: string | null | undefined): boolean {
  return typeof collation === 'string' && collation.endsWith('_bin');
}

function checkTableName(tableName: string): void {
  if (!isValidTableName(tableName)) {
    throw new LeaderElectionConfigError(invalidTableNameMessage(tableName));
  }
}

function checkCollation(collation: string): string {
  if (!/^utf8mb4_[a-z0-9_]*bin$/.test(collation)) {
    throw new LeaderElectionConfigError(invalidCollationMessage(collation));
  }
  return collation;
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
  return keyedTableMigration(tableName, leaseTableDdl);
}

/**
 * A kysely migration that creates (and on `down`, drops) a table whose DDL depends on the key collation
 * the server offers (the lease, runs and terms tables).
 */
export function keyedTableMigration(
  tableName: string,
  ddl: (tableName: string, collation: LeaseKeyCollation) => RawBuilder<unknown>,
): Migration {
  return {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely's Migration signature
    async up(db: Kysely<any>): Promise<void> {
      const collation = await detectKeyCollation((probe) =>
        probe.execute(db).then(
          () => true,
          (error: { errno?: number }) => {
            if (UNKNOWN_COLLATION_ERRNOS.includes(error?.errno ?? 0)) return false;
            throw error;
          },
        ),
      );
      await ddl(tableName, collation).execute(db);
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely's Migration signature
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable(tableName).ifExists().execute();
    },
  };
}
