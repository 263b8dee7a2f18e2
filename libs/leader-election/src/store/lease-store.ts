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
  /**
   * The candidate this lease is being handed to ('' or absent when none): asked for while `holder` still
   * leads, or handed over (then `holder` is that candidate too, until it acquires the next term).
   */
  readonly handoverTo?: string;
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
  /**
   * Takes the lease when it has expired or was released (or is held by `holder` itself), whatever its
   * term: the new term is `max(row's term, aboveTerm) + 1`, computed by the server in the same statement.
   * Resolves the term won, or `undefined` when the lease is valid for somebody else. A standby sends it
   * when a doorbell rings: after a graceful release the whole takeover is this one statement, even when
   * the standby's last read is some terms old (it waited on the doorbell meanwhile).
   */
  acquireFree?(name: string, holder: string, aboveTerm: number, leaseMs: number): Promise<number | undefined>;
  /** Extends the lease by `leaseMs` from now, only while `holder` still holds `term` unexpired. */
  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean>;
  /**
   * Expires the lease at once, keeping holder and term for history. Resolves `true` when it was ours.
   * `end` says why, for the leadership history (default: a plain release). `doorbell`: the election's
   * doorbell while it holds its lock; a store that opened it may free the row and the lock in one
   * statement (the lock only once the row is released, so that a standby it wakes finds the lease free).
   */
  release(
    name: string,
    holder: string,
    term: number,
    end?: TermEnd,
    doorbell?: LeaseDoorbell,
  ): Promise<boolean>;
  /**
   * Hands a lease `holder` no longer acts on to `to`: the row names `to` as holder and handover target
   * and stays valid for `windowMs` from now (only `to` may acquire meanwhile; anybody after). Resolves
   * `true` when the lease was `holder`'s, valid, at `term`.
   */
  handOver?(name: string, holder: string, term: number, to: string, windowMs: number): Promise<boolean>;
  /**
   * Asks the holder of the valid lease at `term` to hand it to `to` (its next renewal fails, and it hands
   * over). Resolves `true` when the request was written (no other request was pending).
   */
  requestHandover?(name: string, term: number, to: string): Promise<boolean>;
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
   * Reads every row whose name starts with `prefix` in one statement (the live members of a balanced
   * group, docs/design.md "Balanced leadership").
   */
  readPrefix?(prefix: string): Promise<Map<string, LeaseRow>>;
  /** Deletes the rows starting with `prefix` that expired more than `expiredForMs` ago; resolves how many. */
  deleteExpiredPrefix?(prefix: string, expiredForMs: number): Promise<number>;
  /**
   * Opens the doorbell of an election, where the server supports shared named locks. Absent on stores
   * without one (then standbys poll).
   */
  openDoorbell?(name: string): LeaseDoorbell;
  /** Why the server cannot ring doorbells (e.g. a Galera cluster), or `undefined` when it can. */
  doorbellUnsupportedReason?(): Promise<string | undefined>;
}
