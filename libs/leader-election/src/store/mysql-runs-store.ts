import { sql, type RawBuilder } from 'kysely';
import { LeasePool, type LeaseConnectionOptions, type StatementResult } from './lease-pool';
import { LeaseStoreError } from './lease-store';
import { detectKeyCollation, UNKNOWN_COLLATION_ERRNOS } from './lease-table';
import { compilerOnly } from './mysql-compiler';
import type {
  ClaimResult,
  JobRunState,
  JobSummaryRow,
  RunFence,
  RunOutcome,
  RunRow,
  RunsState,
  RunsStore,
} from './runs-store';
import { createRunsTableSql, RUN_ERROR_MAX_LENGTH, runsTableDdl } from './runs-table';
import { redactSecrets } from './redact';

/** Settings of the MySQL runs store. */
export interface MysqlRunsStoreOptions {
  readonly connection: LeaseConnectionOptions;
  /** The lease table whose row fences every deciding write. */
  readonly leaseTableName: string;
  readonly runsTableName: string;
  readonly operationTimeoutMs: number;
}

const DUPLICATE_KEY = 1062;
const TABLE_MISSING = 1146;
/** Rows per `missed` INSERT: a long outage is recorded in a few statements, none of them huge. */
const MISSED_BATCH = 500;

/**
 * The runs table on its own small pool (opened at the first statement, so followers open nothing). Every
 * write that decides whether an occurrence runs is one autocommit statement that reads the lease row
 * with a shared lock: it commits only while the caller holds its term, and a takeover waits for it.
 */
export class MysqlRunsStore implements RunsStore {
  private readonly pool: LeasePool;
  private readonly runs: RawBuilder<unknown>;
  private readonly lease: RawBuilder<unknown>;

  constructor(private readonly options: MysqlRunsStoreOptions) {
    this.pool = new LeasePool(options.connection, options.operationTimeoutMs, 2);
    this.runs = sql.table(options.runsTableName);
    this.lease = sql.table(options.leaseTableName);
  }

  async ensureSchema(): Promise<void> {
    // Look before creating (no CREATE privilege needed when the table exists), and without
    // information_schema, whose queries crashed MariaDB 10.11 under load (see lease-table.ts).
    try {
      await this.execute(sql`SELECT 1 FROM ${this.runs} LIMIT 0`);
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
    await this.execute(runsTableDdl(this.options.runsTableName, collation));
  }

  async readState(jobs: readonly string[], term: number): Promise<RunsState> {
    const names = sql.join([...jobs]);
    const { rows } = await this.execute(sql`
      SELECT UTC_TIMESTAMP(6) AS db_now, r.* FROM (SELECT 1 AS one) AS x
      LEFT JOIN (
        SELECT 'latest' AS kind, job, MAX(occurrence) AS occurrence, NULL AS attempt, NULL AS term,
               NULL AS holder, NULL AS outcome
        FROM ${this.runs} WHERE job IN (${names}) GROUP BY job
        UNION ALL
        SELECT 'unfinished', job, occurrence, attempt, term, holder, outcome
        FROM ${this.runs} WHERE job IN (${names}) AND outcome = 'running' AND term < ${term}
      ) AS r ON TRUE`);
    const state = new Map<string, { latest: number | undefined; unfinished: RunRow[] }>();
    for (const job of jobs) state.set(job, { latest: undefined, unfinished: [] });
    for (const row of rows) {
      if (row.job === null || row.job === undefined) continue;
      const entry = state.get(String(row.job));
      if (!entry) continue;
      if (row.kind === 'latest') entry.latest = fromDatetime(row.occurrence);
      else entry.unfinished.push(toRunRow({ ...row, started_at: null, finished_at: null, error: null }));
    }
    return { dbNow: fromDatetime(rows[0]?.db_now), jobs: state as Map<string, JobRunState> };
  }

  async dbNow(): Promise<number> {
    const { rows } = await this.execute(sql`SELECT UTC_TIMESTAMP(6) AS db_now`);
    return fromDatetime(rows[0]?.db_now);
  }

  async claim(
    fence: RunFence,
    row: { job: string; occurrence: number; attempt: number; outcome: 'running' | 'skipped-overlap' },
    due: boolean,
  ): Promise<ClaimResult> {
    const occurrence = toDatetime(row.occurrence);
    const running = row.outcome === 'running';
    try {
      const { affectedRows } = await this.execute(sql`
        INSERT INTO ${this.runs} (job, occurrence, attempt, term, holder, started_at, finished_at, outcome)
        SELECT ${row.job}, ${occurrence}, ${row.attempt}, l.term, l.holder,
               ${running ? sql`UTC_TIMESTAMP(6)` : sql`NULL`}, ${running ? sql`NULL` : sql`UTC_TIMESTAMP(6)`},
               ${row.outcome}
        FROM ${this.lease} AS l
        WHERE ${this.fenced(fence)} ${due ? sql`AND UTC_TIMESTAMP(6) >= ${occurrence}` : sql``}
        LOCK IN SHARE MODE`);
      return affectedRows === 1 ? 'claimed' : 'refused';
    } catch (error) {
      if (error instanceof LeaseStoreError && error.code === DUPLICATE_KEY) return 'duplicate';
      throw error;
    }
  }

  async recordMissed(fence: RunFence, job: string, occurrences: readonly number[]): Promise<void> {
    for (let i = 0; i < occurrences.length; i += MISSED_BATCH) {
      const batch = occurrences.slice(i, i + MISSED_BATCH);
      const instants = sql.join(
        batch.map((occurrence, index) =>
          index === 0
            ? sql`SELECT CAST(${toDatetime(occurrence)} AS DATETIME(6)) AS occurrence`
            : sql`SELECT ${toDatetime(occurrence)}`,
        ),
        sql` UNION ALL `,
      );
      await this.execute(sql`
        INSERT INTO ${this.runs} (job, occurrence, attempt, term, holder, finished_at, outcome)
        SELECT ${job}, o.occurrence, 1, l.term, l.holder, UTC_TIMESTAMP(6), 'missed'
        FROM (${instants}) AS o JOIN ${this.lease} AS l ON ${this.fenced(fence)}
        LOCK IN SHARE MODE
        ON DUPLICATE KEY UPDATE outcome = ${this.runs}.outcome`);
    }
  }

  async abandon(
    fence: RunFence,
    rows: readonly Pick<RunRow, 'job' | 'occurrence' | 'attempt'>[],
  ): Promise<void> {
    if (rows.length === 0) return;
    const keys = sql.join(
      rows.map((row) => sql`(${row.job}, ${toDatetime(row.occurrence)}, ${row.attempt})`),
    );
    await this.execute(sql`
      UPDATE ${this.runs} AS r JOIN ${this.lease} AS l ON ${this.fenced(fence)}
      SET r.outcome = 'abandoned', r.finished_at = UTC_TIMESTAMP(6)
      WHERE r.outcome = 'running' AND (r.job, r.occurrence, r.attempt) IN (${keys})`);
  }

  async finish(
    row: Pick<RunRow, 'job' | 'occurrence' | 'attempt'>,
    outcome: 'succeeded' | 'failed',
    error: string | null,
  ): Promise<void> {
    const text =
      error === null ? null : redactSecrets(error, this.pool.secrets).slice(0, RUN_ERROR_MAX_LENGTH);
    await this.execute(sql`
      UPDATE ${this.runs} SET outcome = ${outcome}, error = ${text}, finished_at = UTC_TIMESTAMP(6)
      WHERE job = ${row.job} AND occurrence = ${toDatetime(row.occurrence)} AND attempt = ${row.attempt}
        AND outcome = 'running'`);
  }

  async list(job: string, limit: number): Promise<RunRow[]> {
    const { rows } = await this.execute(sql`
      SELECT job, occurrence, attempt, term, holder, started_at, finished_at, outcome, error
      FROM ${this.runs} WHERE job = ${job}
      ORDER BY occurrence DESC, attempt DESC LIMIT ${Math.max(0, Math.floor(limit))}`);
    return rows.map(toRunRow);
  }

  async summary(jobs: readonly string[]): Promise<{ dbNow: number; latest: Map<string, JobSummaryRow> }> {
    const { rows } = await this.execute(sql`
      SELECT UTC_TIMESTAMP(6) AS db_now, r.job, r.occurrence, r.attempt, r.outcome
      FROM (SELECT 1 AS one) AS x
      LEFT JOIN ${this.runs} AS r ON r.job IN (${sql.join([...jobs])})
        AND r.occurrence = (SELECT MAX(occurrence) FROM ${this.runs} AS m WHERE m.job = r.job)
      ORDER BY r.attempt DESC`);
    const latest = new Map<string, JobSummaryRow>();
    for (const row of rows) {
      if (row.job === null || row.job === undefined || latest.has(String(row.job))) continue;
      latest.set(String(row.job), {
        occurrence: fromDatetime(row.occurrence),
        outcome: String(row.outcome) as RunOutcome,
      });
    }
    return { dbNow: fromDatetime(rows[0]?.db_now), latest };
  }

  async prune(job: string, keep: number): Promise<number> {
    const { rows } = await this.execute(sql`
      SELECT occurrence FROM ${this.runs} WHERE job = ${job}
      ORDER BY occurrence DESC, attempt DESC LIMIT 1 OFFSET ${Math.max(0, keep - 1)}`);
    if (rows.length === 0) return 0;
    const { affectedRows } = await this.execute(sql`
      DELETE FROM ${this.runs} WHERE job = ${job} AND occurrence < ${String(rows[0].occurrence)}`);
    return affectedRows;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private fenced(fence: RunFence): RawBuilder<unknown> {
    return sql`l.name = ${fence.election} AND l.holder = ${fence.holder} AND l.term = ${fence.term}
      AND l.expires_at > UTC_TIMESTAMP(6)`;
  }

  private async execute(statement: RawBuilder<unknown>): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    try {
      return await this.pool.run(this.options.operationTimeoutMs, (query) => query(text, parameters));
    } catch (error) {
      if (error instanceof LeaseStoreError && error.code === 1146) {
        throw new LeaseStoreError(
          'configuration',
          `The runs table "${this.options.runsTableName}" does not exist. Set createTable: true, or create ` +
            `it with createRunsTableSql() / createRunsTableMigration():\n${createRunsTableSql(this.options.runsTableName)}`,
          1146,
        );
      }
      throw error;
    }
  }
}

/** Epoch ms to a `DATETIME(6)` literal in UTC (the pool's session time zone). */
export function toDatetime(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.round((ms - whole) * 1000);
  const iso = new Date(whole).toISOString(); // 2026-01-01T00:00:00.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros).padStart(3, '0')}`;
}

/** A `DATETIME(6)` string (UTC) to epoch ms, microseconds kept as the fraction. */
export function fromDatetime(value: unknown): number {
  const text = String(value);
  const seconds = Date.parse(`${text.slice(0, 19).replace(' ', 'T')}Z`);
  const fraction = text.length > 20 ? Number(`0.${text.slice(20)}`) : 0;
  return seconds + fraction * 1000;
}

function toRunRow(row: Record<string, unknown>): RunRow {
  const time = (value: unknown) => (value === null || value === undefined ? null : fromDatetime(value));
  return {
    job: String(row.job),
    occurrence: fromDatetime(row.occurrence),
    attempt: Number(row.attempt),
    term: Number(row.term),
    holder: String(row.holder),
    startedAt: time(row.started_at),
    finishedAt: time(row.finished_at),
    outcome: String(row.outcome) as RunOutcome,
    error: row.error === null || row.error === undefined ? null : String(row.error),
  };
}
