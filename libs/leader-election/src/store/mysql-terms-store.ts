import { sql, type RawBuilder } from 'kysely';
import {
  connectionSecrets,
  LeasePool,
  type LeaseConnectionOptions,
  type StatementResult,
} from './lease-pool';
import { LeaseStoreError } from './lease-store';
import { detectKeyCollation, UNKNOWN_COLLATION_ERRNOS } from './lease-table';
import { compilerOnly } from './mysql-compiler';
import { fromDatetime } from './mysql-runs-store';
import type { TermEndReason, TermRow, TermsStore } from './terms-store';
import { createTermsTableSql, termsTableDdl } from './terms-table';

/** Settings of the MySQL terms store. */
export interface MysqlTermsStoreOptions {
  readonly connection: LeaseConnectionOptions;
  readonly termsTableName: string;
  readonly operationTimeoutMs: number;
}

const TABLE_MISSING = 1146;

/**
 * The terms table on its own pool of one connection, opened at a statement and closed when idle: a
 * candidate that never leads opens nothing, a leader holds it only around an acquisition or release.
 * Every write is an autocommit statement on the primary key.
 */
export class MysqlTermsStore implements TermsStore {
  /**
   * Created at the first statement: a mysql2 pool that closes idle connections keeps a timer running,
   * which would hold an app that never wrote history (a standby, an app on another lease store) open.
   */
  private lazyPool: LeasePool | undefined;
  private closed = false;
  private readonly terms: RawBuilder<unknown>;

  constructor(private readonly options: MysqlTermsStoreOptions) {
    this.terms = sql.table(options.termsTableName);
  }

  /** Passwords of the connection, to keep out of every message. */
  get secrets(): readonly string[] {
    return connectionSecrets(this.options.connection);
  }

  async ensureSchema(): Promise<void> {
    // Look before creating (no CREATE privilege needed when the table exists), and without
    // information_schema (see lease-table.ts).
    try {
      await this.execute(sql`SELECT 1 FROM ${this.terms} LIMIT 0`);
      return;
    } catch (error) {
      if (!(error instanceof LeaseStoreError && error.code === TABLE_MISSING)) throw error;
    }
    const collation = await detectKeyCollation((probe) =>
      this.execute(probe).then(
        () => true,
        (error: unknown) => {
          if (error instanceof LeaseStoreError && UNKNOWN_COLLATION_ERRNOS.includes(Number(error.code))) {
            return false;
          }
          throw error;
        },
      ),
    );
    await this.execute(termsTableDdl(this.options.termsTableName, collation));
  }

  async recordAcquired(
    election: string,
    holder: string,
    term: number,
    previousEnd: TermEndReason,
    keep: number,
  ): Promise<void> {
    await this.execute(sql`
      UPDATE ${this.terms} SET ended_at = UTC_TIMESTAMP(6), end_reason = ${previousEnd}
      WHERE election = ${election} AND term < ${term} AND ended_at IS NULL`);
    await this.execute(sql`
      INSERT INTO ${this.terms} (election, term, holder, acquired_at)
      VALUES (${election}, ${term}, ${holder}, UTC_TIMESTAMP(6))
      ON DUPLICATE KEY UPDATE holder = VALUES(holder), acquired_at = VALUES(acquired_at),
        ended_at = NULL, end_reason = NULL`);
    const oldest = term - Math.max(1, Math.floor(keep));
    if (oldest > 0) {
      await this.execute(sql`DELETE FROM ${this.terms} WHERE election = ${election} AND term <= ${oldest}`);
    }
  }

  async recordEnded(election: string, holder: string, term: number, reason: TermEndReason): Promise<void> {
    await this.execute(sql`
      UPDATE ${this.terms}
      SET end_reason = ${reason},
          ended_at = IF(ended_at IS NULL, UTC_TIMESTAMP(6), LEAST(ended_at, UTC_TIMESTAMP(6)))
      WHERE election = ${election} AND term = ${term} AND holder = ${holder}
        AND (ended_at IS NULL OR end_reason = 'expired')`);
  }

  async list(election: string | undefined, limit: number): Promise<TermRow[]> {
    const where = election === undefined ? sql`` : sql`WHERE election = ${election}`;
    const { rows } = await this.execute(sql`
      SELECT election, term, holder, acquired_at, ended_at, end_reason FROM ${this.terms} ${where}
      ORDER BY ${election === undefined ? sql`acquired_at DESC, term DESC` : sql`term DESC`} LIMIT ${Math.max(0, Math.floor(limit))}`);
    return rows.map((row) => ({
      election: String(row.election),
      term: Number(row.term),
      holder: String(row.holder),
      acquiredAt: fromDatetime(row.acquired_at),
      endedAt: row.ended_at === null || row.ended_at === undefined ? null : fromDatetime(row.ended_at),
      endReason:
        row.end_reason === null || row.end_reason === undefined
          ? null
          : (String(row.end_reason) as TermEndReason),
    }));
  }

  close(): Promise<void> {
    this.closed = true;
    return this.lazyPool?.close() ?? Promise.resolve();
  }

  private get pool(): LeasePool {
    if (this.closed) throw new LeaseStoreError('unreachable', 'The terms store is closed.');
    // Written at acquisition and release only: the connection closes again 10 s after the last write.
    this.lazyPool ??= new LeasePool(
      this.options.connection,
      this.options.operationTimeoutMs,
      1,
      undefined,
      0,
    );
    return this.lazyPool;
  }

  private async execute(statement: RawBuilder<unknown>): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    try {
      return await this.pool.run(this.options.operationTimeoutMs, (query) => query(text, parameters));
    } catch (error) {
      if (error instanceof LeaseStoreError && error.code === TABLE_MISSING) {
        throw new LeaseStoreError(
          'configuration',
          `The terms table "${this.options.termsTableName}" does not exist. Set createTable: true, or create ` +
            `it with createTermsTableSql() / createTermsTableMigration():\n${createTermsTableSql(this.options.termsTableName)}`,
          TABLE_MISSING,
        );
      }
      throw error;
    }
  }
}
