import type {
  ClaimResult,
  JobSummaryRow,
  RunFence,
  RunRow,
  RunsState,
  RunsStore,
} from '../src/store/runs-store';
import type { MemoryLeaseStore } from './memory-lease-store';

/** One statement sent to the memory runs store. */
export interface RunsStatementRecord {
  readonly kind: keyof RunsStore;
  readonly client: string | undefined;
}

type MutableRun = { -readonly [K in keyof RunRow]: RunRow[K] };

/**
 * An in-memory runs table with the semantics of `MysqlRunsStore`, fenced by the rows of a
 * `MemoryLeaseStore` and judged on its database clock. Several candidates share one instance through
 * `client(label)`; every statement is recorded, so that tests can count them per candidate.
 */
export class MemoryRunsStore {
  readonly statements: RunsStatementRecord[] = [];
  private readonly rows = new Map<string, MutableRun>();
  /** Called before each statement executes (e.g. to move the database's clock between two statements). */
  beforeStatement: ((kind: keyof RunsStore) => void) | undefined;
  /** Answers held back until `releaseHeld()` (see `holdNext`). */
  private readonly held: (() => void)[] = [];
  private holdKind: keyof RunsStore | undefined;
  /** How many statements to fail next (as a lost connection would). */
  private failures = 0;

  constructor(private readonly lease: MemoryLeaseStore) {}

  /** Every row, oldest occurrence first. */
  all(job?: string): RunRow[] {
    return [...this.rows.values()]
      .filter((row) => job === undefined || row.job === job)
      .sort((a, b) => a.occurrence - b.occurrence || a.attempt - b.attempt)
      .map((row) => ({ ...row }));
  }

  /** Inserts a row directly, as another process or an earlier deploy would have. */
  seed(row: Partial<RunRow> & Pick<RunRow, 'job' | 'occurrence'>): void {
    const full: MutableRun = {
      attempt: 1,
      term: 0,
      holder: 'seed',
      startedAt: null,
      finishedAt: null,
      outcome: 'succeeded',
      error: null,
      ...row,
    };
    this.rows.set(key(full), full);
  }

  /** Fails the next `count` statements with an error. */
  failNext(count: number): void {
    this.failures = count;
  }

  /** Holds the answer of the next statement of `kind` (executed, not yet answered) until `releaseHeld()`. */
  holdNext(kind: keyof RunsStore): void {
    this.holdKind = kind;
  }

  /** Statements held so far. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Lets the held statements execute. */
  releaseHeld(): void {
    this.held.splice(0).forEach((release) => release());
  }

  /** The runs store as one candidate's connection. */
  client(label: string): RunsStore {
    const run = <T>(kind: keyof RunsStore, body: () => T): Promise<T> => {
      this.statements.push({ kind, client: label });
      if (this.holdKind === kind) {
        this.holdKind = undefined;
        const result = execute(kind, body);
        return new Promise<void>((resolve) => this.held.push(resolve)).then(() => result);
      }
      return execute(kind, body);
    };
    const execute = <T>(kind: keyof RunsStore, body: () => T): Promise<T> => {
      this.beforeStatement?.(kind);
      if (this.failures > 0) {
        this.failures--;
        return Promise.reject(new Error(`${kind} failed (injected)`));
      }
      try {
        return Promise.resolve(body());
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return {
      ensureSchema: () => run('ensureSchema', () => undefined),
      readState: (jobs, term) => run('readState', () => this.readState(jobs, term)),
      dbNow: () => run('dbNow', () => this.lease.dbNow()),
      claim: (fence, row, due) => run('claim', () => this.claim(fence, row, due)),
      recordMissed: (fence, job, occurrences) =>
        run('recordMissed', () => {
          if (!this.fenced(fence)) return;
          for (const occurrence of occurrences) {
            const row = this.newRow(fence, { job, occurrence, attempt: 1, outcome: 'missed' });
            if (!this.rows.has(key(row))) this.rows.set(key(row), row);
          }
        }),
      abandon: (fence, rows) =>
        run('abandon', () => {
          if (!this.fenced(fence)) return;
          for (const target of rows) {
            const row = this.rows.get(key(target));
            if (row?.outcome === 'running') {
              row.outcome = 'abandoned';
              row.finishedAt = this.lease.dbNow();
            }
          }
        }),
      finish: (target, outcome, error) =>
        run('finish', () => {
          const row = this.rows.get(key(target));
          if (row?.outcome !== 'running') return;
          row.outcome = outcome;
          row.error = error;
          row.finishedAt = this.lease.dbNow();
        }),
      list: (job, limit) => run('list', () => this.all(job).reverse().slice(0, limit)),
      summary: (jobs) =>
        run('summary', () => {
          const latest = new Map<string, JobSummaryRow>();
          for (const job of jobs) {
            const last = this.all(job).at(-1);
            if (last) latest.set(job, { occurrence: last.occurrence, outcome: last.outcome });
          }
          return { dbNow: this.lease.dbNow(), latest };
        }),
      prune: (job, keep) =>
        run('prune', () => {
          const rows = this.all(job).reverse();
          const cutoff = rows[keep - 1]?.occurrence;
          if (cutoff === undefined) return 0;
          const gone = rows.filter((row) => row.occurrence < cutoff);
          gone.forEach((row) => this.rows.delete(key(row)));
          return gone.length;
        }),
      close: () => Promise.resolve(),
    };
  }

  private readState(jobs: readonly string[], term: number): RunsState {
    const state = new Map(
      jobs.map((job) => {
        const rows = this.all(job);
        return [
          job,
          {
            latest: rows.at(-1)?.occurrence,
            unfinished: rows.filter((row) => row.outcome === 'running' && row.term < term),
          },
        ] as const;
      }),
    );
    return { dbNow: this.lease.dbNow(), jobs: state };
  }

  private claim(
    fence: RunFence,
    target: { job: string; occurrence: number; attempt: number; outcome: 'running' | 'skipped-overlap' },
    due: boolean,
  ): ClaimResult {
    const row = this.newRow(fence, target);
    if (this.rows.has(key(row))) return 'duplicate';
    if (!this.fenced(fence) || (due && this.lease.dbNow() < target.occurrence)) return 'refused';
    this.rows.set(key(row), row);
    return 'claimed';
  }

  private fenced(fence: RunFence): boolean {
    const lease = this.lease.row(fence.election);
    return (
      lease !== undefined &&
      lease.holder === fence.holder &&
      lease.term === fence.term &&
      lease.expiresAt > this.lease.dbNow()
    );
  }

  private newRow(
    fence: RunFence,
    target: Pick<RunRow, 'job' | 'occurrence' | 'attempt' | 'outcome'>,
  ): MutableRun {
    const now = this.lease.dbNow();
    const running = target.outcome === 'running';
    return {
      ...target,
      term: fence.term,
      holder: fence.holder,
      startedAt: running ? now : null,
      finishedAt: running ? null : now,
      error: null,
    };
  }
}

function key(row: Pick<RunRow, 'job' | 'occurrence' | 'attempt'>): string {
  return `${row.job}\u0000${row.occurrence}\u0000${row.attempt}`;
}
