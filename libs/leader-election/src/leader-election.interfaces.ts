// Public shapes shared by the service, the orchestrator and the decorators.

/** A leadership of this instance in one election: what a `@LeaderOnly()` call or a fenced write runs under. */
export interface Leadership {
  /** The election. */
  readonly election: string;
  /** The fencing token of this leadership: strictly greater than every earlier term of the election. */
  readonly term: number;
  /** Aborted the moment this leadership ends (step-down, resign, shutdown). */
  readonly signal: AbortSignal;
  /** Inside a `@LeaderOnly({ once: true })` run: the occurrence it runs for (on the database's clock). */
  readonly occurrence?: Date;
}

/** The leadership of a `once` run: always carries its occurrence. */
export interface OnceLeadership extends Leadership {
  readonly occurrence: Date;
}

/** What a `once` job does with occurrences nobody ran: record them, run the latest, or run them all. */
export type MissedPolicy = 'skip' | 'latest' | 'all';

/** `@LeaderOnly({ once: true })` after defaults. */
export interface OnceMetadata {
  readonly job: string;
  readonly missed: MissedPolicy;
  readonly recover: boolean;
  readonly maxCatchUp: number;
  readonly catchUpWindowMs: number;
}

/**
 * A kysely `Transaction`, described by shape rather than by class: kysely's classes carry `#private`
 * members, so a `Transaction` of the ESM build is not assignable to the class of the CommonJS build the
 * declarations were compiled against. Any `Transaction` of kysely 0.28 or 0.29 fits, from either build.
 */
export interface FencedTransaction {
  /** `true` on a kysely `Transaction`; a plain `Kysely` is refused (its lock would end with the statement). */
  readonly isTransaction: boolean;
  /** @internal kysely's executor, used to run the fence statement inside the transaction. */
  getExecutor(): unknown;
}

/** A kysely `Kysely` instance, by shape (see `FencedTransaction` for why not by class). */
export interface FencedDatabase extends FencedTransaction {
  /** kysely's `connection()`: one connection for the fenced transaction and its session settings. */
  connection(): unknown;
  /** kysely's `transaction()`: its `execute` hands the transaction to the callback (see `TransactionOf`). */
  transaction(): unknown;
}

/** The `Transaction` type of a given `Kysely` type, from whichever kysely build the caller uses. */
export type TransactionOf<D> = D extends {
  transaction(): { execute(callback: (trx: infer Trx) => Promise<unknown>): Promise<unknown> };
}
  ? Trx
  : never;

/** What `@LeaderOnly()` does when this instance is not the leader. */
export type OnFollower = 'skip' | 'throw';

/** `@LeaderOnly()`'s options after normalisation, as stored in the wrapper's metadata. */
export interface LeaderOnlyMetadata {
  /** The election, or `undefined` for the module's first one. */
  readonly election: string | undefined;
  readonly onFollower: OnFollower;
  /** Present with `once: true`. */
  readonly once?: OnceMetadata;
}

/** Which transition a leadership hook follows. */
export type LeadershipHookKind = 'granted' | 'revoked';

/** Metadata of a leadership hook method (a method may carry several). */
export interface LeadershipHookMetadata {
  readonly kind: LeadershipHookKind;
  readonly election: string | undefined;
}

/** The argument passed to `@OnLeadershipGranted()` / `@OnLeadershipRevoked()` methods. */
export interface LeadershipChange {
  readonly election: string;
  readonly term: number;
  /**
   * The signal of that leadership: aborted when it ends. In a granted hook, stop what the hook started
   * when it aborts; in a revoked hook it is already aborted.
   */
  readonly signal: AbortSignal;
}

/** What became of one occurrence of a `once` job. */
export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'missed' | 'abandoned' | 'skipped-overlap';

/** One recorded occurrence of a `once` job (`LeaderElectionService.getRuns()`). Times on the database's clock. */
export interface JobRun {
  readonly job: string;
  /** The scheduled instant. */
  readonly occurrence: Date;
  /** 1, or 2+ when a run abandoned by a crashed leader was run again (`recover: true`). */
  readonly attempt: number;
  /** The term (fencing token) it was claimed or recorded under. */
  readonly term: number;
  /** The candidate that claimed or recorded it. */
  readonly candidateId: string;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly outcome: RunOutcome;
  /** The error of a `failed` run (truncated), else `null`. */
  readonly error: string | null;
}

/** One `once` job as `LeaderElectionService.getJobs()` reports it. */
export interface JobSummary {
  readonly job: string;
  readonly election: string;
  /** `cron "..."` or `every N ms`. */
  readonly schedule: string;
  readonly lastOccurrence: Date | null;
  readonly lastOutcome: RunOutcome | null;
  /** The next instant of its schedule after now (database clock). */
  readonly nextOccurrence: Date;
}

/** Options of `LeaderElectionService.resign()`. */
export interface ResignOptions {
  /**
   * Hand the lease to this candidate (its full id, as in `getState().leaderId` or the CLI's `status`): it
   * takes the next term at once while the others hold off for `handoverWindowMs`.
   */
  readonly to?: string;
}

/**
 * How a term of an election ended: `released` (its holder gave the lease back: shutdown), `resigned` (its
 * holder called `resign()`, or an operator ran the CLI's `resign`), `expired` (its holder stopped renewing
 * and another candidate, or the same one under a new term, took the lease over), `handed-over` (its holder
 * gave it to a chosen candidate).
 */
export type TermEndReason = 'released' | 'resigned' | 'expired' | 'handed-over';

/** One term of an election (`LeaderElectionService.getHistory()`). Times on the database's clock. */
export interface LeadershipTerm {
  readonly election: string;
  /** The term (fencing token). */
  readonly term: number;
  /** The candidate that held it. */
  readonly candidateId: string;
  readonly acquiredAt: Date;
  /** `null` while the term has not ended (as far as the table knows). */
  readonly endedAt: Date | null;
  readonly endReason: TermEndReason | null;
}
