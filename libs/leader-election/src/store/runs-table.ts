import { sql, type Migration, type RawBuilder } from 'kysely';
import {
  DEFAULT_LEASE_KEY_COLLATION,
  isValidTableName,
  keyedTableMigration,
  type LeaseKeyCollation,
} from './lease-table';
import { compilerOnly } from './mysql-compiler';

/** Default name of the runs table of `@LeaderOnly({ once: true })` jobs. */
export const DEFAULT_RUNS_TABLE = 'leader_election_runs';

/** Width of `job`, so that job names can be checked at boot. */
export const RUN_JOB_MAX_LENGTH = 191;
/** Longest error text kept in a run row. */
export const RUN_ERROR_MAX_LENGTH = 1000;

/**
 * The `CREATE TABLE IF NOT EXISTS` of the runs table. `job` and `holder` compare byte for byte, as the
 * lease table's keys do (see `LeaseKeyCollation`): 'Report' and 'report' are two jobs.
 */
export function runsTableDdl(
  tableName: string = DEFAULT_RUNS_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): RawBuilder<unknown> {
  if (!isValidTableName(tableName)) {
    throw new TypeError(`Invalid runs table name "${tableName}": use letters, digits and _ only.`);
  }
  if (!/^utf8mb4_[a-z0-9_]*bin$/.test(collation)) {
    throw new TypeError(`Invalid runs key collation "${collation}": use a utf8mb4 binary collation.`);
  }
  const keyType = sql.raw(`VARCHAR(191) CHARACTER SET utf8mb4 COLLATE ${collation}`);
  return sql`CREATE TABLE IF NOT EXISTS ${sql.table(tableName)} (
  job         ${keyType} NOT NULL,
  occurrence  DATETIME(6)      NOT NULL,
  attempt     SMALLINT UNSIGNED NOT NULL DEFAULT 1,
  term        BIGINT UNSIGNED  NOT NULL,
  holder      ${keyType} NOT NULL,
  started_at  DATETIME(6)      NULL,
  finished_at DATETIME(6)      NULL,
  outcome     VARCHAR(16) CHARACTER SET ascii NOT NULL,
  error       VARCHAR(${sql.raw(String(RUN_ERROR_MAX_LENGTH))}) CHARACTER SET utf8mb4 NULL,
  PRIMARY KEY (job, occurrence, attempt),
  KEY outcome_term (outcome, term)
) ENGINE=InnoDB`;
}

/**
 * The runs table's DDL as plain SQL text, for teams that apply schema changes themselves and run the
 * module with `createTable: false`.
 *
 * @example
 * console.log(createRunsTableSql('leader_election_runs'));
 */
export function createRunsTableSql(
  tableName: string = DEFAULT_RUNS_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): string {
  return runsTableDdl(tableName, collation).compile(compilerOnly).sql;
}

/**
 * A kysely migration that creates (and on `down`, drops) the runs table.
 *
 * @example
 * '2026_02_01_leader_election_runs': createRunsTableMigration(),
 */
export function createRunsTableMigration(tableName: string = DEFAULT_RUNS_TABLE): Migration {
  return keyedTableMigration(tableName, runsTableDdl);
}
