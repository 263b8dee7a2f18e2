import { sql, type Migration, type RawBuilder } from 'kysely';
import {
  DEFAULT_LEASE_KEY_COLLATION,
  isValidTableName,
  keyedTableMigration,
  type LeaseKeyCollation,
} from './lease-table';
import { compilerOnly } from './mysql-compiler';

/** Default name of the leadership history table (one row per term). */
export const DEFAULT_TERMS_TABLE = 'leader_election_terms';

/**
 * The `CREATE TABLE IF NOT EXISTS` of the terms table: one row per term of an election, written at
 * acquisition and closed at its end (release, operator resign, or takeover after expiry). `election` and
 * `holder` compare byte for byte, as the lease table's keys do (see `LeaseKeyCollation`).
 */
export function termsTableDdl(
  tableName: string = DEFAULT_TERMS_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): RawBuilder<unknown> {
  if (!isValidTableName(tableName)) {
    throw new TypeError(`Invalid terms table name "${tableName}": use letters, digits and _ only.`);
  }
  if (!/^utf8mb4_[a-z0-9_]*bin$/.test(collation)) {
    throw new TypeError(`Invalid terms key collation "${collation}": use a utf8mb4 binary collation.`);
  }
  const keyType = sql.raw(`VARCHAR(191) CHARACTER SET utf8mb4 COLLATE ${collation}`);
  return sql`CREATE TABLE IF NOT EXISTS ${sql.table(tableName)} (
  election    ${keyType} NOT NULL,
  term        BIGINT UNSIGNED  NOT NULL,
  holder      ${keyType} NOT NULL,
  acquired_at DATETIME(6)      NOT NULL,
  ended_at    DATETIME(6)      NULL,
  end_reason  VARCHAR(16) CHARACTER SET ascii NULL,
  PRIMARY KEY (election, term)
) ENGINE=InnoDB`;
}

/**
 * The terms table's DDL as plain SQL text, for teams that apply schema changes themselves and run the
 * module with `createTable: false`.
 *
 * @example
 * console.log(createTermsTableSql('leader_election_terms'));
 */
export function createTermsTableSql(
  tableName: string = DEFAULT_TERMS_TABLE,
  collation: LeaseKeyCollation = DEFAULT_LEASE_KEY_COLLATION,
): string {
  return termsTableDdl(tableName, collation).compile(compilerOnly).sql;
}

/**
 * A kysely migration that creates (and on `down`, drops) the terms table.
 *
 * @example
 * '2026_03_01_leader_election_terms': createTermsTableMigration(),
 */
export function createTermsTableMigration(tableName: string = DEFAULT_TERMS_TABLE): Migration {
  return keyedTableMigration(tableName, termsTableDdl);
}
