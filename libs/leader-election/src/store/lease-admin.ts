import { sql, type RawBuilder } from 'kysely';
import { LeasePool, type LeaseConnectionOptions, type StatementResult } from './lease-pool';
import { MysqlLeaseStore } from './mysql-lease-store';
import { compilerOnly } from './mysql-compiler';
import { MysqlRunsStore } from './mysql-runs-store';
import { MysqlTermsStore } from './mysql-terms-store';
import type { RunOutcome } from './runs-store';
import { DEFAULT_RUNS_TABLE } from './runs-table';
import { termEndReason, type TermRow } from './terms-store';
import { DEFAULT_TERMS_TABLE } from './terms-table';

/**
 * The holder an operator's `resign` writes: it matches no candidate (candidate ids always end with
 * `:<suffix>`), so the holder's next renewal fails while the expiry stays where the holder put it.
 */
export const RESIGNED_HOLDER = '(resigned)';

/** One election's row as an operator sees it, judged on the database's clock. */
export interface LeaseStatus {
  readonly election: string;
  /** Candidate id of the last holder; `undefined` when the row was never acquired. */
  readonly holder: string | undefined;
  readonly term: number;
  /** True while `expires_at` is in the future on the database's clock. */
  readonly valid: boolean;
  /** Milliseconds until `expires_at` on the database's clock (negative once expired). */
  readonly remainingMs: number;
  /** `expires_at` in UTC (`YYYY-MM-DD hh:mm:ss.ffffff`). */
  readonly expiresAt: string;
  /** True when an operator resigned the lease and it has not been taken since. */
  readonly resigned: boolean;
}

/** What `resign` did. */
export type ResignOutcome =
  | {
      readonly outcome: 'resigned';
      readonly holder: string;
      readonly term: number;
      readonly remainingMs: number;
    }
  | { readonly outcome: 'not-held' }
  | { readonly outcome: 'no-such-election' };

/** What `handOver` did. */
export type HandOverOutcome =
  | {
      /** `to` acquired a new term (`handed-over`), or another candidate did (`taken-by-other`). */
      readonly outcome: 'handed-over' | 'taken-by-other';
      /** The holder and term the request was made on. */
      readonly from: string;
      readonly fromTerm: number;
      readonly holder: string;
      readonly term: number;
      /** From the request to the new term, as the CLI saw it. */
      readonly elapsedMs: number;
    }
  | {
      /** Nobody took a new term within the wait (the request was withdrawn). */
      readonly outcome: 'timed-out';
      readonly from: string;
      readonly fromTerm: number;
    }
  | { readonly outcome: 'not-held' }
  | { readonly outcome: 'no-such-election' };

/** How often `handOver` reads the row while it waits for the new term. */
const HANDOVER_POLL_MS = 20;
/** The tables beside the lease table, for `history`, `runs` and `jobs`. */
export interface LeaseAdminTables {
  /** Default `leader_election_terms`. */
  readonly terms?: string;
  /** Default `leader_election_runs`. */
  readonly runs?: string;
}

/** One row of the runs table as an operator sees it. Times `YYYY-MM-DD hh:mm:ss.ffffff` UTC. */
export interface RunStatus {
  readonly job: string;
  readonly occurrence: string;
  readonly attempt: number;
  readonly term: number;
  readonly holder: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly outcome: RunOutcome;
  readonly error: string | null;
}

/** One job of the runs table: its latest occurrence and how many rows it has by outcome. */
export interface JobStatus {
  readonly job: string;
  readonly lastOccurrence: string;
  readonly lastOutcome: RunOutcome;
  readonly runs: number;
  readonly failed: number;
  readonly missed: number;
}

/**
 * The operator's statements on the lease table (the CLI's `status`, `resign`, `migrate`): read every row,
 * take a lease from its holder without letting anybody else in early, apply the DDL.
 */
export class LeaseAdmin {
  private readonly pool: LeasePool;
  private readonly table: RawBuilder<unknown>;
  private readonly runs: RawBuilder<unknown>;
  private readonly runsTableName: string;
  private readonly terms: MysqlTermsStore;

  constructor(
    private readonly connection: LeaseConnectionOptions,
    private readonly tableName: string,
    private readonly timeoutMs = 10_000,
    tables: LeaseAdminTables = {},
  ) {
    this.pool = new LeasePool(connection, timeoutMs, 1);
    this.table = sql.table(tableName);
    this.runsTableName = tables.runs ?? DEFAULT_RUNS_TABLE;
    this.runs = sql.table(this.runsTableName);
    this.terms = new MysqlTermsStore({
      connection,
      termsTableName: tables.terms ?? DEFAULT_TERMS_TABLE,
      operationTimeoutMs: timeoutMs,
    });
  }

  /** Passwords of the connection, to keep out of every message. */
  get secrets(): readonly string[] {
    return this.pool.secrets;
  }

  /** Every election of the table, by name. */
  async status(): Promise<LeaseStatus[]> {
    const { rows } = await this.execute(sql`
      SELECT name, holder, term, expires_at, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} ORDER BY name`);
    return rows.map((row) => {
      const holder = String(row.holder ?? '');
      return {
        election: String(row.name),
        holder: holder === '' ? undefined : holder,
        term: Number(row.term),
        valid: Number(row.valid) === 1,
        remainingMs: Math.round(Number(row.remaining_us) / 1000),
        expiresAt: String(row.expires_at),
        resigned: holder === RESIGNED_HOLDER,
      };
    });
  }

  /**
   * Takes a valid lease away from its holder without shortening it: the holder's next renewal (within R)
   * fails and it steps down, and nobody can acquire before `expires_at`, which is past the end of the
   * holder's own belief (`t_send + L - M`). Expiring the row instead would let a standby acquire while
   * the old leader still believes it leads (two leaders for up to L - M).
   */
  async resign(election: string): Promise<ResignOutcome> {
    const { rows } = await this.execute(sql`
      SELECT holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} WHERE name = ${election}`);
    const row = rows[0];
    if (!row) return { outcome: 'no-such-election' };
    const holder = String(row.holder ?? '');
    if (Number(row.valid) !== 1 || holder === '' || holder === RESIGNED_HOLDER)
      return { outcome: 'not-held' };
    const term = Number(row.term);
    // Compare-and-swap on holder and term: a lease taken over meanwhile is somebody else's to keep.
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table} SET holder = ${RESIGNED_HOLDER}
      WHERE name = ${election} AND holder = ${holder} AND term = ${term}
        AND expires_at > UTC_TIMESTAMP(6)`);
    if (affectedRows !== 1) return { outcome: 'not-held' };
    // The history, when its table exists: the term ended by an operator's hand.
    await this.terms
      .recordEnded(election, holder, term, termEndReason({ by: 'operator' }))
      .catch(() => undefined);
    return { outcome: 'resigned', holder, term, remainingMs: Math.round(Number(row.remaining_us) / 1000) };
  }

  /**
   * Asks the holder of `election` to hand the lease to candidate `to`, and waits up to `waitMs` for the
   * new term. Only the holder may give the lease away safely (it alone knows when it stopped acting as
   * leader), so this writes a request (`handover_to`): the holder's next renewal fails, it steps down and
   * hands over (docs/design.md, "Handover to a chosen candidate"). A request nobody acted on is withdrawn.
   */
  async handOver(election: string, to: string, waitMs: number): Promise<HandOverOutcome> {
    const row = await this.readRow(election);
    if (!row) return { outcome: 'no-such-election' };
    if (!row.valid || row.holder === '' || row.holder === RESIGNED_HOLDER) return { outcome: 'not-held' };
    const { holder: from, term: fromTerm } = row;
    const started = Date.now();
    if (from === to) {
      return { outcome: 'handed-over', from, fromTerm, holder: to, term: fromTerm, elapsedMs: 0 };
    }
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table} SET handover_to = ${to}
      WHERE name = ${election} AND holder = ${from} AND term = ${fromTerm}
        AND expires_at > UTC_TIMESTAMP(6) AND handover_to IN ('', ${to})`);
    if (affectedRows !== 1) return { outcome: 'not-held' };
    while (Date.now() - started < waitMs) {
      const now = await this.readRow(election);
      if (now && now.term > fromTerm) {
        return {
          outcome: now.holder === to ? 'handed-over' : 'taken-by-other',
          from,
          fromTerm,
          holder: now.holder,
          term: now.term,
          elapsedMs: Date.now() - started,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, HANDOVER_POLL_MS));
    }
    // Withdraw a request the holder did not act on (a holder that already handed over is left alone).
    await this.execute(sql`
      UPDATE ${this.table} SET handover_to = ''
      WHERE name = ${election} AND holder = ${from} AND term = ${fromTerm} AND handover_to = ${to}`);
    return { outcome: 'timed-out', from, fromTerm };
  }

  private async readRow(
    election: string,
  ): Promise<{ holder: string; term: number; valid: boolean; remainingMs: number } | undefined> {
    const { rows } = await this.execute(sql`
      SELECT holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} WHERE name = ${election}`);
    const row = rows[0];
    if (!row) return undefined;
    return {
      holder: String(row.holder ?? ''),
      term: Number(row.term),
      valid: Number(row.valid) === 1,
      remainingMs: Math.round(Number(row.remaining_us) / 1000),
    };
  }

  /** The terms of `election` (every election's when `undefined`), newest first. */
  history(election: string | undefined, limit: number): Promise<TermRow[]> {
    return this.terms.list(election, limit);
  }

  /** The runs of `job` (every job's when `undefined`), newest occurrence first. */
  async runsOf(job: string | undefined, limit: number): Promise<RunStatus[]> {
    const where = job === undefined ? sql`` : sql`WHERE job = ${job}`;
    const { rows } = await this.execute(sql`
      SELECT job, occurrence, attempt, term, holder, started_at, finished_at, outcome, error
      FROM ${this.runs} ${where}
      ORDER BY occurrence DESC, attempt DESC LIMIT ${Math.max(0, Math.floor(limit))}`);
    const time = (value: unknown) => (value === null || value === undefined ? null : String(value));
    return rows.map((row) => ({
      job: String(row.job),
      occurrence: String(row.occurrence),
      attempt: Number(row.attempt),
      term: Number(row.term),
      holder: String(row.holder),
      startedAt: time(row.started_at),
      finishedAt: time(row.finished_at),
      outcome: String(row.outcome) as RunOutcome,
      error: time(row.error),
    }));
  }

  /** Every job of the runs table, by name: its latest row and its counts. */
  async jobs(): Promise<JobStatus[]> {
    const { rows } = await this.execute(sql`
      SELECT r.job, r.occurrence, r.outcome, c.runs, c.failed, c.missed
      FROM (
        SELECT job, MAX(occurrence) AS latest, COUNT(*) AS runs, SUM(outcome = 'failed') AS failed,
               SUM(outcome = 'missed') AS missed
        FROM ${this.runs} GROUP BY job
      ) AS c
      JOIN ${this.runs} AS r ON r.job = c.job AND r.occurrence = c.latest
      ORDER BY r.job, r.attempt DESC`);
    const jobs = new Map<string, JobStatus>();
    for (const row of rows) {
      const job = String(row.job);
      if (jobs.has(job)) continue; // the latest attempt of the latest occurrence comes first
      jobs.set(job, {
        job,
        lastOccurrence: String(row.occurrence),
        lastOutcome: String(row.outcome) as RunOutcome,
        runs: Number(row.runs),
        failed: Number(row.failed),
        missed: Number(row.missed),
      });
    }
    return [...jobs.values()];
  }

  /**
   * Creates the lease table (or upgrades a 0.1.0 table), the terms table and the runs table, as the module
   * does with `createTable: true`.
   */
  async migrate(): Promise<void> {
    const store = new MysqlLeaseStore({
      connection: this.connection,
      tableName: this.tableName,
      operationTimeoutMs: this.timeoutMs,
      poolSize: 1,
    });
    const runs = new MysqlRunsStore({
      connection: this.connection,
      leaseTableName: this.tableName,
      runsTableName: this.runsTableName,
      operationTimeoutMs: this.timeoutMs,
    });
    try {
      await store.ensureSchema();
      await this.terms.ensureSchema();
      await runs.ensureSchema();
    } finally {
      await Promise.all([store.close(), runs.close()]);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.terms.close()]);
  }

  private async execute(statement: RawBuilder<unknown>): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    return this.pool.run(this.timeoutMs, (query) => query(text, parameters));
  }
}
