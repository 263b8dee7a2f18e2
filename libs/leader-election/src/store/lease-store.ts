import type { TermEnd } from './terms-store';

/** What one read of a lease row tells, every time judged on the database's clock. */
export interface LeaseRow {
  /** Candidate id of the last holder ('' when the row was never acquired). */
  readonly holder: string;
  /** Fencing token: +1 on every acquisition, never reused. */
  readonly term: number;
  /** True while `expires_at` is in the future on the database's clock. */
  readonly valid: boolean;
  /** Microseconds until `expires_at` on the database's clock (negative once expired). */
  readonly remainingUs: number;
}

/**
 * How the elector must treat a failed statement (see docs/design.md, "Errors").
 * - `not-applied`: the server refused it before changing anything; retry with backoff.
 * - `outcome-unknown`: it may or may not have applied; a leader steps down at once.
 * - `unreachable`: no server answered; stay or become follower and retry.
 * - `configuration`: credentials, privileges, database or table are wrong; retrying will not help soon.
 */
export type LeaseErrorKind = 'not-applied' | 'outcome-unknown' | 'unreachable' | 'configuration';

/** A failed lease statement, already classified and with credentials removed from its message. */
export class LeaseStoreError extends Error {
  constructor(
    readonly kind: LeaseErrorKind,
    message: string,
    /** The driver's code or server errno, when there was one. */
    readonly code?: string | number,
  ) {
    super(message);
    this.name = 'LeaseStoreError';
  }
}

/**
 * A wake-up for standbys (MySQL named lock): the leader holds it, standbys wait on it, and a graceful
 * release or a crashed leader's closed connection frees it at once. Only a wake-up: correctness never
 * depends on it. One dedicated connection per election.
 */
export interface LeaseDoorbell {
  /** Takes the lock without waiting; `true` when this session holds it (also when it already did). */
  hold(): Promise<boolean>;
  /**
   * Waits up to `timeoutMs` for the lock, but only while somebody holds it: `rung` when this session then
   * holds it, `timeout` when the wait ran out, `unheld` when nobody held it (nothing would ring).
   */
  wait(timeoutMs: number): Promise<'rung' | 'timeout' | 'unheld'>;
  /** Frees the lock when held. */
  release(): Promise<void>;
  /** Whether this session holds the lock as far as this process knows. */
  readonly held: boolean;
  /** Cancels a pending wait, frees the lock and closes the connection. */
  close(): Promise<void>;
}

/**
 * The lease table, and nothing else: every method is one statement (or the schema setup), sent with its own
 * deadline, and every time comparison happens on the database's clock.
 */
export interface LeaseStore {
  /** Creates the lease table when it does not exist (skipped when the user manages the DDL). */
  ensureSchema(): Promise<void>;
  /** Inserts the election's row when missing; idempotent. */
  ensureRow(name: string): Promise<void>;
  /** Reads one election's row, or `undefined` when it does not exist yet. */
  read(name: string): Promise<LeaseRow | undefined>;
  /**
   * Compare-and-swap on the observed term: takes the lease for `holder` with term `newTerm` (default
   * `observedTerm + 1`) when it has expired (or was held by `holder` itself). Resolves `true` when this
   * call won. The elector passes a `newTerm` above every term it has seen, so that a row deleted and
   * re-created at term 0 never hands out a term again.
   */
  acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm?: number,
  ): Promise<boolean>;
  /** Extends the lease by `leaseMs` from now, only while `holder` still holds `term` unexpired. */
  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean>;
  /**
   * Expires the lease at once, keeping holder and term for history. Resolves `true` when it was ours.
   * `end` says why, for the leadership history (default: a plain release).
   */
  release(name: string, holder: string, term: number, end?: TermEnd): Promise<boolean>;
  /** Closes the store's connections; pending statements fail. */
  close(): Promise<void>;
  /** Reads several elections' rows in one statement (rows that do not exist are absent). */
  readMany?(names: readonly string[]): Promise<Map<string, LeaseRow>>;
  /**
   * Renews several of `holder`'s leases in one statement; resolves how many were renewed (all of them
   * when it equals `leases.length`).
   */
  renewMany?(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number>;
  /**
   * Opens the doorbell of an election, where the server supports shared named locks. Absent on stores
   * without one (then standbys poll).
   */
  openDoorbell?(name: string): LeaseDoorbell;
  /** Why the server cannot ring doorbells (e.g. a Galera cluster), or `undefined` when it can. */
  doorbellUnsupportedReason?(): Promise<string | undefined>;
}
