import type { RunOutcome } from '../leader-election.interfaces';

export type { RunOutcome };

/** One row of the runs table. Times are epoch milliseconds on the database's clock. */
export interface RunRow {
  readonly job: string;
  /** The scheduled instant (database clock). */
  readonly occurrence: number;
  /** 1, or more when an abandoned run was run again (`recover: true`). */
  readonly attempt: number;
  readonly term: number;
  readonly holder: string;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly outcome: RunOutcome;
  readonly error: string | null;
}

/** The lease a write must be made under: it commits only while this holder holds this term, unexpired. */
export interface RunFence {
  readonly election: string;
  readonly holder: string;
  readonly term: number;
}

/** What a leader learns about one job at grant. */
export interface JobRunState {
  /** The latest recorded occurrence, or `undefined` when the job has no row yet. */
  readonly latest: number | undefined;
  /** Rows still `running` under an older term (their leader is gone): abandoned or to recover. */
  readonly unfinished: readonly RunRow[];
}

/** The answer of the one read per grant. */
export interface RunsState {
  /** `UTC_TIMESTAMP(6)` when the read ran, epoch ms. */
  readonly dbNow: number;
  readonly jobs: ReadonlyMap<string, JobRunState>;
}

/** Result of a claim: the row is ours; it exists already (ran or recorded); or the fence refused it. */
export type ClaimResult = 'claimed' | 'duplicate' | 'refused';

/** The latest row of a job, for `getJobs()`. */
export interface JobSummaryRow {
  readonly occurrence: number;
  readonly outcome: RunOutcome;
}

/**
 * The runs table beside the lease table, and nothing else (SQL only). Writes that decide what runs are
 * fenced by the lease in the same statement, so that they commit only under the caller's term.
 */
export interface RunsStore {
  /** Creates the runs table when missing (skipped with `createTable: false`). */
  ensureSchema(): Promise<void>;
  /**
   * One read at grant: the database's clock and, per job, its latest occurrence and the rows left
   * `running` by terms before `term`.
   */
  readState(jobs: readonly string[], term: number): Promise<RunsState>;
  /** The database's clock (`UTC_TIMESTAMP(6)`), epoch ms: a resync. */
  dbNow(): Promise<number>;
  /**
   * Inserts (job, occurrence, attempt) with `outcome` under the fence, in one statement. With `due`, also
   * only once the database's clock has reached the occurrence. `refused`: not leader, or too early.
   */
  claim(
    fence: RunFence,
    row: { job: string; occurrence: number; attempt: number; outcome: 'running' | 'skipped-overlap' },
    due: boolean,
  ): Promise<ClaimResult>;
  /** Records occurrences nobody ran as `missed` (existing rows are kept), fenced. */
  recordMissed(fence: RunFence, job: string, occurrences: readonly number[]): Promise<void>;
  /** Marks rows left `running` by older terms `abandoned`, fenced. */
  abandon(fence: RunFence, rows: readonly Pick<RunRow, 'job' | 'occurrence' | 'attempt'>[]): Promise<void>;
  /** Writes the outcome of a claimed run (only while it is still `running`). */
  finish(
    row: Pick<RunRow, 'job' | 'occurrence' | 'attempt'>,
    outcome: 'succeeded' | 'failed',
    error: string | null,
  ): Promise<void>;
  /** The job's rows, newest occurrence first (latest attempt first). */
  list(job: string, limit: number): Promise<RunRow[]>;
  /** The latest row of each job, and the database's clock. */
  summary(jobs: readonly string[]): Promise<{ dbNow: number; latest: Map<string, JobSummaryRow> }>;
  /** Deletes the job's rows beyond the newest `keep`; resolves how many went. */
  prune(job: string, keep: number): Promise<number>;
  close(): Promise<void>;
}
