import {
  LeaseStoreError,
  type LeaseDoorbell,
  type LeaseErrorKind,
  type LeaseRow,
  type LeaseStore,
} from '../src/store/lease-store';
import type { FakeClock } from './fake-clock';

/** The statements of docs/design.md, by the `LeaseStore` method that sends them. */
export type LeaseStatementKind =
  | 'ensureSchema'
  | 'ensureRow'
  | 'read'
  | 'acquire'
  | 'renew'
  | 'release'
  | 'readMany'
  | 'renewMany'
  | 'readPrefix';

/**
 * The named-lock statements of a doorbell (`store/mysql-doorbell.ts`):
 * - `getLock`: `GET_LOCK(name, 0)` (`hold()`);
 * - `waitLock`: `SELECT IF(IS_USED_LOCK(name) IS NULL, -1, GET_LOCK(name, T))` (`wait(T)`);
 * - `releaseLock`: `RELEASE_LOCK(name)` (`release()`).
 */
export type LockStatementKind = 'getLock' | 'waitLock' | 'releaseLock';

/** Every statement the memory store records. */
export type StatementKind = LeaseStatementKind | LockStatementKind;

/** What a doorbell wait answered. */
export type WaitOutcome = 'rung' | 'timeout' | 'unheld';

/** One lease row; every time is on the database's clock (milliseconds since the epoch). */
export interface LeaseRowSnapshot {
  readonly holder: string;
  readonly term: number;
  readonly acquiredAt: number;
  readonly renewedAt: number;
  readonly expiresAt: number;
}

/** One statement as the database saw it, for assertions. */
export interface StatementRecord {
  /** Order of sending, from 1. */
  readonly seq: number;
  readonly kind: StatementKind;
  /** The label of the `client()` view it came through, or `undefined` for the store itself. */
  readonly client: string | undefined;
  readonly name?: string;
  readonly holder?: string;
  /** `acquire`: the observed term; `renew` / `release`: the term held. */
  readonly term?: number;
  /** `acquire`: the term it takes when it wins. */
  readonly newTerm?: number;
  /** `readMany` / `renewMany`: the elections it covers. */
  readonly names?: readonly string[];
  readonly leaseMs?: number;
  /** `waitLock`: the timeout the server applies (whole seconds, as `MysqlDoorbell` sends it), in ms. */
  readonly waitMs?: number;
  /** Fake monotonic time at which the caller sent it. */
  readonly sentAt: number;
  status: 'in-flight' | 'hung' | 'ok' | 'failed';
  /** Fake time at which it ran against the table; `undefined` when it never did. */
  executedAt?: number;
  /** The database's clock (`UTC_TIMESTAMP(6)`) when it ran. */
  dbExecutedAt?: number;
  /** The row before and after it ran. */
  before?: LeaseRowSnapshot;
  after?: LeaseRowSnapshot;
  /**
   * What it returned (`affectedRows === 1` for updates; the row for reads; whether `GET_LOCK` got the
   * lock; the outcome of a wait), when it ran.
   */
  result?: boolean | number | LeaseRow | Map<string, LeaseRow> | WaitOutcome;
  /** Fake time at which the caller got its answer. */
  settledAt?: number;
  error?: LeaseStoreError;
}

/** Selects statements; every given field must match. */
export interface StatementMatch {
  readonly kind?: StatementKind | readonly StatementKind[];
  readonly client?: string;
  readonly holder?: string;
  readonly name?: string;
}

/** How a failure injected by `failNext()` behaves. */
export interface FaultOptions {
  /** Only statements that match count (and fail). */
  readonly match?: StatementMatch;
  /** The statement runs against the table before failing (an outcome-unknown error after commit). */
  readonly applied?: boolean;
  readonly message?: string;
  readonly code?: string | number;
}

export interface MemoryLeaseStoreOptions {
  /**
   * The database's clock is `clock.now() + dbClockOffsetMs`; by default an epoch-like value unrelated to any
   * candidate's clock, which is the point: only the database's clock may decide expiry.
   */
  readonly dbClockOffsetMs?: number;
  /** Per-statement round trip in fake ms (see `latency`). */
  readonly latencyMs?: number | ((statement: StatementRecord) => number);
  /**
   * Named locks, as MySQL shares them: `openDoorbell(name)` on the store and on every `client()` view.
   * Off by default, so that a store without doorbells keeps the poll path (what a LeaseStore without
   * `openDoorbell` gets).
   */
  readonly doorbells?: boolean;
  /**
   * With `doorbells`: what `doorbellUnsupportedReason()` answers (e.g. Galera); by default `undefined`
   * (named locks work). Can be changed later through `doorbellUnsupported`.
   */
  readonly doorbellUnsupportedReason?: string;
  /**
   * `readMany` and `renewMany` (one statement for several elections), so that `BatchingLeaseStore` can
   * wrap the store. Off by default, so that several elections on one store keep one statement each.
   */
  readonly batching?: boolean;
}

/** A change of a named lock on the database's side, for assertions about ordering. */
export interface LockEvent {
  /** Fake monotonic time at which it happened on the server. */
  readonly at: number;
  /** The lock's (election's) name. */
  readonly name: string;
  /** The label of the client whose session it concerns (`undefined`: the store itself). */
  readonly client: string | undefined;
  /** `granted`: the session got the lock; `freed`: nobody holds it any more. */
  readonly type: 'granted' | 'freed';
  /** Why: `hold` (GET_LOCK 0), `wait` (a waiter woken), `release` (RELEASE_LOCK), `close`, `drop`, `crash`. */
  readonly cause: 'hold' | 'wait' | 'release' | 'close' | 'drop' | 'crash';
}

/** `expires_at` after a release and before the first acquisition: '1970-01-01 00:00:01'. */
export const EXPIRED_AT_MS = 1_000;

interface Fault {
  remaining: number;
  readonly kind: LeaseErrorKind;
  readonly options: FaultOptions;
}

interface HangRule {
  remaining: number;
  readonly match: StatementMatch | undefined;
}

interface HungStatement {
  readonly record: StatementRecord;
  finish(failure?: { kind: LeaseErrorKind; applied: boolean }): void;
}

/**
 * An in-memory `LeaseStore` with the exact semantics of the statements of docs/design.md, judged on a database clock
 * derived from a `FakeClock`:
 *
 * - acquire: compare-and-swap on the observed term, only when `expires_at <= now OR holder = me`; the new
 *   term is the one passed (observed + 1 by default);
 * - renew: only when holder and term match and the lease has not expired;
 * - release: `expires_at` goes to 1970, holder and term stay;
 * - read: `valid` and `remainingUs` on the database's clock.
 *
 * Several candidates share one instance. Each statement is recorded; it can be delayed (it runs at
 * `sent + latency / 2` and answers at `sent + latency`), held until the test releases it, or failed.
 *
 * With the `doorbells` option it also has MySQL's named locks (`openDoorbell()`, see `MemoryDoorbell`):
 * one holder per name, FIFO waiters, locks freed when their session ends (`crashDoorbells()`,
 * `dropDoorbells()`), their statements recorded and failed (`failGetLock()`) like the others.
 */
export class MemoryLeaseStore implements LeaseStore {
  /** Every statement sent, in order. */
  readonly statements: StatementRecord[] = [];
  dbClockOffsetMs: number;
  /** Per-statement round trip in fake ms, or a function of the statement. */
  latency: number | ((statement: StatementRecord) => number);
  /** How many times `close()` was called (it does not stop the shared store). */
  closeCount = 0;
  private readonly rows = new Map<string, LeaseRowSnapshot>();
  private readonly faults: Fault[] = [];
  private readonly hangRules: HangRule[] = [];
  private readonly hung: HungStatement[] = [];
  private seq = 0;
  /** Every change of a named lock, in order (with `doorbells`). */
  readonly lockEvents: LockEvent[] = [];
  /** Every doorbell opened, in order (with `doorbells`). */
  readonly doorbells: MemoryDoorbell[] = [];
  /** What `doorbellUnsupportedReason()` answers (with `doorbells`). */
  doorbellUnsupported: string | undefined;
  /** Present only with the `doorbells` option: a named lock per election, one session per doorbell. */
  readonly openDoorbell?: (name: string) => MemoryDoorbell;
  /** Present only with the `doorbells` option; answers `doorbellUnsupported`. */
  readonly doorbellUnsupportedReason?: () => Promise<string | undefined>;
  /** Present only with the `batching` option: reads the rows whose names start with a prefix. */
  readonly readPrefix?: (prefix: string) => Promise<Map<string, LeaseRow>>;
  /** Present only with the `batching` option: reads several rows in one statement. */
  readonly readMany?: (names: readonly string[]) => Promise<Map<string, LeaseRow>>;
  /** Present only with the `batching` option: renews several of one holder's leases in one statement. */
  readonly renewMany?: (
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ) => Promise<number>;
  private readonly locks = new Map<string, NamedLock>();
  private nextSessionId = 1;
  private readonly batching: boolean;

  constructor(
    private readonly clock: FakeClock,
    options: MemoryLeaseStoreOptions = {},
  ) {
    this.dbClockOffsetMs = options.dbClockOffsetMs ?? Date.UTC(2030, 5, 1, 12) + 123.456;
    this.latency = options.latencyMs ?? 0;
    this.doorbellUnsupported = options.doorbellUnsupportedReason;
    this.batching = options.batching ?? false;
    if (options.batching) {
      const view = this.viaClient(undefined);
      this.readMany = view.readMany;
      this.readPrefix = view.readPrefix;
      this.renewMany = view.renewMany;
    }
    if (options.doorbells) {
      this.openDoorbell = (name) => this.newDoorbell(name, undefined);
      this.doorbellUnsupportedReason = () => Promise.resolve(this.doorbellUnsupported);
    }
  }

  // ---- LeaseStore --------------------------------------------------------------------------------------

  ensureSchema(): Promise<void> {
    return this.viaClient(undefined).ensureSchema();
  }
  ensureRow(name: string): Promise<void> {
    return this.viaClient(undefined).ensureRow(name);
  }
  read(name: string): Promise<LeaseRow | undefined> {
    return this.viaClient(undefined).read(name);
  }
  acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm?: number,
  ): Promise<boolean> {
    return this.viaClient(undefined).acquire(name, holder, observedTerm, leaseMs, newTerm);
  }
  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    return this.viaClient(undefined).renew(name, holder, term, leaseMs);
  }
  release(name: string, holder: string, term: number): Promise<boolean> {
    return this.viaClient(undefined).release(name, holder, term);
  }
  close(): Promise<void> {
    this.closeCount++;
    return Promise.resolve();
  }

  /**
   * The same table reached through a connection labelled `label` (one per simulated process), so that
   * faults and hangs can target one candidate's statements, reads included.
   */
  client(label: string): LeaseStore {
    return this.viaClient(label);
  }

  // ---- the database's side -------------------------------------------------------------------------

  /** `UTC_TIMESTAMP(6)` on the database, in epoch milliseconds. */
  dbNow(): number {
    return this.clock.now() + this.dbClockOffsetMs;
  }

  /** The row as stored, or `undefined`. */
  row(name: string): LeaseRowSnapshot | undefined {
    const row = this.rows.get(name);
    return row && { ...row };
  }

  /** Sets a row directly, as another process or an operator would (`expiresInMs` from the DB's now). */
  seed(name: string, row: { holder: string; term: number; expiresInMs: number }): void {
    const now = this.dbNow();
    this.rows.set(name, {
      holder: row.holder,
      term: row.term,
      acquiredAt: now,
      renewedAt: now,
      expiresAt: now + row.expiresInMs,
    });
  }

  /**
   * Deletes a row (or every row: a table dropped and re-created), as an operator would; the next
   * `ensureRow` creates it again at term 0.
   */
  deleteRow(name?: string): void {
    if (name === undefined) this.rows.clear();
    else this.rows.delete(name);
  }

  /** The fake monotonic time at which `expires_at` of the row is (or was) reached on the DB's clock. */
  expiryInFakeTime(name: string): number {
    const row = this.rows.get(name);
    if (!row) throw new Error(`No lease row "${name}"`);
    return row.expiresAt - this.dbClockOffsetMs;
  }

  /** Recorded statements that match. */
  find(match: StatementMatch = {}): StatementRecord[] {
    return this.statements.filter((statement) => matches(statement, match));
  }

  /** Acquisitions that won (ran and matched the row). */
  wins(match: Omit<StatementMatch, 'kind'> = {}): StatementRecord[] {
    return this.find({ ...match, kind: 'acquire' }).filter((statement) => statement.result === true);
  }

  // ---- named locks (doorbells) -----------------------------------------------------------------------

  /** Who holds the named lock of `name` (client labels; `undefined` is the store itself) and who waits. */
  lockState(name: string): { held: boolean; holder: string | undefined; waiters: (string | undefined)[] } {
    const lock = this.locks.get(name);
    return {
      held: lock?.holder !== undefined,
      holder: lock?.holder?.client,
      waiters: lock?.waiters.map((waiter) => waiter.session.client) ?? [],
    };
  }

  /**
   * The process behind `client` crashed: the server ends every doorbell session of it, which frees their
   * locks (the next waiter is granted at once); their pending waits are never answered (nobody is left
   * to hear them). Pause the candidate's `FakeProcessClock` too. Returns how many sessions ended.
   */
  crashDoorbells(client: string | undefined): number {
    return this.endSessionsOf(client, 'crash');
  }

  /**
   * The doorbell connections of `client` were lost (the process lives on): their locks are freed, their
   * pending waits fail as outcome-unknown, and the next call opens a new session. Returns how many ended.
   */
  dropDoorbells(client: string | undefined): number {
    return this.endSessionsOf(client, 'drop');
  }

  /** The next `count` `GET_LOCK`s (`hold()` and `wait()`) matching `client` fail with `kind`. */
  failGetLock(
    count: number,
    kind: LeaseErrorKind,
    options: { client?: string; message?: string } = {},
  ): void {
    this.failNext(count, kind, {
      match: { kind: ['getLock', 'waitLock'], client: options.client },
      message: options.message,
    });
  }

  /**
   * @internal used by `MemoryDoorbell`: sends one named-lock statement on `session`, recorded, delayed
   * and failed like the others. `run` executes it on the server at `sent + latency / 2` and calls `done`
   * when it returns (a wait may return much later); the caller hears it `latency / 2` after that. When
   * the session is lost meanwhile, it fails as outcome-unknown; a crashed process hears nothing. Any
   * failure drops the session (and its lock), as `MysqlDoorbell` does.
   */
  sendLockStatement<T extends boolean | WaitOutcome>(
    info: Pick<StatementRecord, 'kind' | 'client' | 'name' | 'waitMs'>,
    session: LockSession,
    run: (done: (result: T) => void) => void,
  ): Promise<T> {
    const record: StatementRecord = {
      ...info,
      seq: ++this.seq,
      sentAt: this.clock.now(),
      status: 'in-flight',
    };
    this.statements.push(record);
    const fault = this.takeFault(record);
    const latency = typeof this.latency === 'function' ? this.latency(record) : this.latency;
    const later = (callback: () => void) => {
      if (latency <= 0) callback();
      else this.clock.setTimeout(callback, latency / 2);
    };
    return new Promise<T>((resolve, reject) => {
      const fail = (failure: { kind: LeaseErrorKind; message: string; code?: string | number }) => {
        if (record.status !== 'in-flight') return;
        session.onEnd.delete(lost);
        record.settledAt = this.clock.now();
        record.status = 'failed';
        record.error = new LeaseStoreError(failure.kind, failure.message, failure.code);
        reject(record.error);
        this.endSession(session, 'drop');
      };
      const lost = (cause: 'close' | 'drop' | 'crash') => {
        // close: KILL QUERY answers the statement itself (see `MemoryDoorbell.wait`).
        if (cause === 'drop') {
          fail({ kind: 'outcome-unknown', message: 'Connection lost: the server closed the connection.' });
        }
      };
      session.onEnd.add(lost);
      later(() => {
        if (record.status !== 'in-flight') return;
        if (fault) {
          if (fault.options.applied && record.kind !== 'waitLock') run(() => undefined);
          later(() =>
            fail({
              kind: fault.kind,
              message: fault.options.message ?? `${record.kind} failed (${fault.kind}, injected)`,
              code: fault.options.code,
            }),
          );
          return;
        }
        record.executedAt = this.clock.now();
        record.dbExecutedAt = this.dbNow();
        run((result) => {
          record.result = result;
          later(() => {
            if (record.status !== 'in-flight') return;
            session.onEnd.delete(lost);
            record.settledAt = this.clock.now();
            record.status = 'ok';
            resolve(result);
          });
        });
      });
    });
  }

  /** @internal used by `MemoryDoorbell`: a new server session (a connection of its own). */
  openSession(client: string | undefined): LockSession {
    return { id: this.nextSessionId++, client, alive: true, onEnd: new Set() };
  }

  /** @internal `GET_LOCK(name, 0)`: takes the lock when free, or again when this session holds it. */
  tryLock(name: string, session: LockSession, cause: 'hold' | 'wait'): boolean {
    const lock = this.lock(name);
    if (lock.holder && lock.holder !== session) return false;
    lock.count++;
    if (!lock.holder) {
      lock.holder = session;
      this.lockEvents.push({ at: this.clock.now(), name, client: session.client, type: 'granted', cause });
    }
    return true;
  }

  /** @internal `IS_USED_LOCK(name) IS NOT NULL`. */
  lockUsed(name: string): boolean {
    return this.lock(name).holder !== undefined;
  }

  /** @internal queues a waiter; it is granted when the holder frees the lock (FIFO). */
  enqueue(name: string, waiter: LockWaiter): void {
    this.lock(name).waiters.push(waiter);
  }

  /** @internal removes a waiter (its wait timed out). */
  dequeue(name: string, waiter: LockWaiter): void {
    const waiters = this.lock(name).waiters;
    const index = waiters.indexOf(waiter);
    if (index >= 0) waiters.splice(index, 1);
  }

  /** @internal `RELEASE_LOCK(name)`: true when this session held it (freed once every GET_LOCK is released). */
  unlock(name: string, session: LockSession): boolean {
    const lock = this.lock(name);
    if (lock.holder !== session) return false;
    if (--lock.count <= 0) this.free(name, 'release');
    return true;
  }

  /** @internal the server ends a session: its waits are cancelled and its locks freed. */
  endSession(session: LockSession, cause: 'close' | 'drop' | 'crash'): void {
    if (!session.alive) return;
    session.alive = false;
    session.endedBy = cause;
    for (const [name, lock] of this.locks) {
      for (const waiter of lock.waiters.filter((w) => w.session === session)) {
        this.dequeue(name, waiter);
        waiter.end(cause);
      }
      if (lock.holder === session) this.free(name, cause);
    }
    session.onEnd.forEach((listener) => listener(cause));
  }

  private free(name: string, cause: LockEvent['cause']): void {
    const lock = this.lock(name);
    const previous = lock.holder;
    lock.holder = undefined;
    lock.count = 0;
    if (previous)
      this.lockEvents.push({ at: this.clock.now(), name, client: previous.client, type: 'freed', cause });
    const next = lock.waiters.shift();
    if (next) {
      this.tryLock(name, next.session, 'wait');
      next.grant();
    }
  }

  private lock(name: string): NamedLock {
    let lock = this.locks.get(name);
    if (!lock) {
      lock = { holder: undefined, count: 0, waiters: [] };
      this.locks.set(name, lock);
    }
    return lock;
  }

  private newDoorbell(name: string, client: string | undefined): MemoryDoorbell {
    const doorbell = new MemoryDoorbell(this, this.clock, name, client);
    this.doorbells.push(doorbell);
    return doorbell;
  }

  private endSessionsOf(client: string | undefined, cause: 'drop' | 'crash'): number {
    let ended = 0;
    for (const doorbell of this.doorbells) {
      if (doorbell.client === client && doorbell.serverEnded(cause)) ended++;
    }
    return ended;
  }

  // ---- faults ----------------------------------------------------------------------------------------

  /** The next `count` matching statements fail with `kind` (`Infinity`: until `clearFaults()`). */
  failNext(count: number, kind: LeaseErrorKind, options: FaultOptions = {}): void {
    this.faults.push({ remaining: count, kind, options });
  }

  /** Removes every pending injected failure. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /**
   * The next `count` matching statements hang (neither run nor answer) until `resumeHung()` / `failHung()`.
   * Lease statements only: named-lock statements never hang (see `sendLockStatement`).
   */
  hangNext(count: number, match?: StatementMatch): void {
    this.hangRules.push({ remaining: count, match });
  }

  /** Statements currently held. */
  get hungCount(): number {
    return this.hung.length;
  }

  /** Stops holding new statements and runs the held ones now, answering them at once. */
  resumeHung(): number {
    this.hangRules.length = 0;
    const held = this.hung.splice(0);
    held.forEach((statement) => statement.finish());
    return held.length;
  }

  /** Stops holding new statements and fails the held ones now (after running them when `applied`). */
  failHung(kind: LeaseErrorKind, options: { applied?: boolean } = {}): number {
    this.hangRules.length = 0;
    const held = this.hung.splice(0);
    held.forEach((statement) => statement.finish({ kind, applied: options.applied ?? false }));
    return held.length;
  }

  // ---- internals ---------------------------------------------------------------------------------------

  private viaClient(client: string | undefined): LeaseStore {
    const doorbells: Pick<LeaseStore, 'openDoorbell' | 'doorbellUnsupportedReason'> = this.openDoorbell
      ? {
          openDoorbell: (name) => this.newDoorbell(name, client),
          doorbellUnsupportedReason: () => Promise.resolve(this.doorbellUnsupported),
        }
      : {};
    const batching: Pick<LeaseStore, 'readMany' | 'renewMany' | 'readPrefix'> = this.batching
      ? {
          readPrefix: (prefix) =>
            this.submit({ kind: 'readPrefix', client, name: prefix }, (now) => {
              const rows = new Map<string, LeaseRow>();
              for (const [name, row] of this.rows) {
                if (name.startsWith(prefix)) rows.set(name, toLeaseRow(row, now));
              }
              return rows;
            }),
          readMany: (names) =>
            this.submit({ kind: 'readMany', client, names: [...names] }, (now) => {
              const rows = new Map<string, LeaseRow>();
              for (const name of names) {
                const row = this.rows.get(name);
                if (row) rows.set(name, toLeaseRow(row, now));
              }
              return rows;
            }),
          renewMany: (holder, leases, leaseMs) =>
            this.submit(
              { kind: 'renewMany', client, holder, names: leases.map((l) => l.name), leaseMs },
              (now) => {
                let renewed = 0;
                for (const { name, term } of leases) {
                  const row = this.rows.get(name);
                  if (!row || row.holder !== holder || row.term !== term || !(row.expiresAt > now)) continue;
                  this.rows.set(name, { ...row, renewedAt: now, expiresAt: now + leaseMs });
                  renewed++;
                }
                return renewed;
              },
            ),
        }
      : {};
    return {
      ...doorbells,
      ...batching,
      ensureSchema: () => this.submit({ kind: 'ensureSchema', client }, () => undefined),
      ensureRow: (name) =>
        this.submit({ kind: 'ensureRow', client, name }, () => {
          if (!this.rows.has(name)) {
            this.rows.set(name, {
              holder: '',
              term: 0,
              acquiredAt: EXPIRED_AT_MS,
              renewedAt: EXPIRED_AT_MS,
              expiresAt: EXPIRED_AT_MS,
            });
          }
          return undefined;
        }),
      read: (name) =>
        this.submit({ kind: 'read', client, name }, (now) => {
          const row = this.rows.get(name);
          return row && toLeaseRow(row, now);
        }),
      acquire: (name, holder, observedTerm, leaseMs, newTerm = observedTerm + 1) =>
        this.submit(
          { kind: 'acquire', client, name, holder, term: observedTerm, leaseMs, newTerm },
          (now) => {
            const row = this.rows.get(name);
            if (!row || row.term !== observedTerm || !(row.expiresAt <= now || row.holder === holder))
              return false;
            this.rows.set(name, {
              holder,
              term: newTerm,
              acquiredAt: now,
              renewedAt: now,
              expiresAt: now + leaseMs,
            });
            return true;
          },
        ),
      renew: (name, holder, term, leaseMs) =>
        this.submit({ kind: 'renew', client, name, holder, term, leaseMs }, (now) => {
          const row = this.rows.get(name);
          if (!row || row.holder !== holder || row.term !== term || !(row.expiresAt > now)) return false;
          this.rows.set(name, { ...row, renewedAt: now, expiresAt: now + leaseMs });
          return true;
        }),
      release: (name, holder, term) =>
        this.submit({ kind: 'release', client, name, holder, term }, () => {
          const row = this.rows.get(name);
          if (!row || row.holder !== holder || row.term !== term) return false;
          this.rows.set(name, { ...row, expiresAt: EXPIRED_AT_MS });
          return true;
        }),
      close: () => this.close(),
    };
  }

  private submit<T extends boolean | number | LeaseRow | Map<string, LeaseRow> | undefined>(
    info: Pick<
      StatementRecord,
      'kind' | 'client' | 'name' | 'names' | 'holder' | 'term' | 'newTerm' | 'leaseMs'
    >,
    statement: (dbNow: number) => T,
  ): Promise<T> {
    const record: StatementRecord = {
      ...info,
      seq: ++this.seq,
      sentAt: this.clock.now(),
      status: 'in-flight',
    };
    this.statements.push(record);
    const fault = this.takeFault(record);
    const hang = this.takeHang(record);

    return new Promise<T>((resolve, reject) => {
      let result: T;
      const execute = () => {
        const now = this.dbNow();
        record.executedAt = this.clock.now();
        record.dbExecutedAt = now;
        record.before = info.name === undefined ? undefined : this.row(info.name);
        result = statement(now);
        record.result = result;
        record.after = info.name === undefined ? undefined : this.row(info.name);
      };
      const answer = (
        failure: { kind: LeaseErrorKind; message: string; code?: string | number } | undefined,
      ) => {
        record.settledAt = this.clock.now();
        if (failure) {
          record.status = 'failed';
          record.error = new LeaseStoreError(failure.kind, failure.message, failure.code);
          reject(record.error);
        } else {
          record.status = 'ok';
          resolve(result);
        }
      };

      if (hang) {
        record.status = 'hung';
        this.hung.push({
          record,
          finish: (failure) => {
            if (!failure && fault) failure = { kind: fault.kind, applied: fault.options.applied ?? false };
            if (!failure || failure.applied) execute();
            answer(
              failure && { kind: failure.kind, message: `${record.kind} failed (${failure.kind}; was held)` },
            );
          },
        });
        return;
      }

      const failure = fault && {
        kind: fault.kind,
        message: fault.options.message ?? `${record.kind} failed (${fault.kind}, injected)`,
        code: fault.options.code,
      };
      const run = () => {
        if (!fault || fault.options.applied) execute();
      };
      const latency = typeof this.latency === 'function' ? this.latency(record) : this.latency;
      if (latency <= 0) {
        run();
        answer(failure);
      } else {
        this.clock.setTimeout(run, latency / 2);
        this.clock.setTimeout(() => answer(failure), latency);
      }
    });
  }

  private takeFault(record: StatementRecord): Fault | undefined {
    const fault = this.faults.find(
      (candidate) => candidate.remaining > 0 && matches(record, candidate.options.match),
    );
    if (!fault) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault;
  }

  private takeHang(record: StatementRecord): boolean {
    const rule = this.hangRules.find(
      (candidate) => candidate.remaining > 0 && matches(record, candidate.match),
    );
    if (!rule) return false;
    rule.remaining--;
    if (rule.remaining <= 0) this.hangRules.splice(this.hangRules.indexOf(rule), 1);
    return true;
  }
}

/** One server session of a doorbell (its own connection): its lock lives exactly as long as it. */
interface LockSession {
  readonly id: number;
  readonly client: string | undefined;
  alive: boolean;
  /** How the server ended it. */
  endedBy?: 'close' | 'drop' | 'crash';
  /** Called when the server ends the session. */
  readonly onEnd: Set<(cause: 'close' | 'drop' | 'crash') => void>;
}

/** A session blocked in `GET_LOCK(name, T)`. */
interface LockWaiter {
  readonly session: LockSession;
  /** The lock is now this session's. */
  readonly grant: () => void;
  /** The session ended while waiting. */
  readonly end: (cause: 'close' | 'drop' | 'crash') => void;
}

interface NamedLock {
  holder: LockSession | undefined;
  /** `GET_LOCK` is recursive (MySQL 5.7+, MariaDB): freed once every acquisition was released. */
  count: number;
  readonly waiters: LockWaiter[];
}

/**
 * `store/mysql-doorbell.ts` against the memory store's named locks, with the same client-side logic:
 * - `hold()`: `GET_LOCK(name, 0)`, skipped when this object believes it holds the lock;
 * - `wait(T)`: `rung` at once when held; otherwise `unheld` when nobody holds the lock, else queued
 *   (FIFO) until the holder releases it or its session ends (`rung`), or T (rounded up to whole seconds,
 *   at least 1) passes (`timeout`);
 * - `release()`: `RELEASE_LOCK`, only when held;
 * - `close()`: cancels a pending wait (it answers `timeout`), and the session's end frees the lock;
 * - any failed statement drops the session, and with it the lock, as `MysqlDoorbell` does.
 * Sessions are opened lazily, one at a time; after one was lost, the next call opens a new one.
 */
export class MemoryDoorbell implements LeaseDoorbell {
  held = false;
  private session: LockSession | undefined;
  private closed = false;
  private waiting = false;

  constructor(
    private readonly store: MemoryLeaseStore,
    private readonly clock: FakeClock,
    /** The lock's (election's) name. */
    readonly name: string,
    /** The label of the client view that opened it. */
    readonly client: string | undefined,
  ) {}

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether a wait of this doorbell is pending. */
  get isWaiting(): boolean {
    return this.waiting;
  }

  async hold(): Promise<boolean> {
    if (this.held) return true;
    const session = this.connect();
    const got = await this.send<boolean>({ kind: 'getLock' }, session, (done) =>
      done(session.alive && this.store.tryLock(this.name, session, 'hold')),
    );
    this.held = got && session.alive && this.session === session;
    return this.held;
  }

  async wait(timeoutMs: number): Promise<WaitOutcome> {
    if (this.held) return 'rung';
    const session = this.connect();
    const waitMs = Math.max(1, Math.ceil(timeoutMs / 1000)) * 1000;
    this.waiting = true;
    try {
      const outcome = await this.send<WaitOutcome>({ kind: 'waitLock', waitMs }, session, (done) => {
        // Ended before the statement reached the server: KILL QUERY (close) reads as a timeout; a lost
        // connection fails the call (see `send`); a crashed process hears nothing.
        if (!session.alive) return session.endedBy === 'close' ? done('timeout') : undefined;
        if (!this.store.lockUsed(this.name)) return done('unheld');
        if (this.store.tryLock(this.name, session, 'wait')) return done('rung'); // recursive: our own
        const waiter: LockWaiter = {
          session,
          grant: () => {
            this.clock.clearTimeout(timer);
            done('rung');
          },
          end: (cause) => {
            this.clock.clearTimeout(timer);
            // KILL QUERY makes GET_LOCK return NULL, which a closed MysqlDoorbell reads as 0: a timeout.
            if (cause === 'close') done('timeout');
          },
        };
        const timer = this.clock.setTimeout(() => {
          this.store.dequeue(this.name, waiter);
          done('timeout');
        }, waitMs);
        this.store.enqueue(this.name, waiter);
      });
      this.held = outcome === 'rung' && session.alive && this.session === session;
      return outcome === 'rung' && !this.held ? 'timeout' : outcome;
    } finally {
      this.waiting = false;
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    const session = this.connect();
    await this.send<boolean>({ kind: 'releaseLock' }, session, (done) =>
      done(session.alive && this.store.unlock(this.name, session)),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.held = false;
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    // The server notices the KILL QUERY and the closed socket half a round trip later.
    const latency = typeof this.store.latency === 'function' ? 0 : this.store.latency;
    if (latency <= 0) {
      this.store.endSession(session, 'close');
      return;
    }
    await new Promise<void>((resolve) =>
      this.clock.setTimeout(() => {
        this.store.endSession(session, 'close');
        resolve();
      }, latency / 2),
    );
  }

  /** @internal the server ended this doorbell's session (`crash`, `drop`); false when it had none. */
  serverEnded(cause: 'drop' | 'crash'): boolean {
    const session = this.session;
    if (!session || !session.alive) return false;
    this.store.endSession(session, cause);
    return true;
  }

  private connect(): LockSession {
    if (this.closed) throw new LeaseStoreError('unreachable', 'The doorbell is closed.');
    if (this.session?.alive) return this.session;
    const session = this.store.openSession(this.client);
    session.onEnd.add(() => {
      // The connection's 'error' event: forget the session and its lock; the next call reconnects.
      if (this.session === session) {
        this.session = undefined;
        this.held = false;
      }
    });
    this.session = session;
    return session;
  }

  private send<T extends boolean | WaitOutcome>(
    info: { kind: LockStatementKind; waitMs?: number },
    session: LockSession,
    run: (done: (result: T) => void) => void,
  ): Promise<T> {
    return this.store.sendLockStatement<T>({ ...info, client: this.client, name: this.name }, session, run);
  }
}

function toLeaseRow(row: LeaseRowSnapshot, dbNow: number): LeaseRow {
  return {
    holder: row.holder,
    term: row.term,
    valid: row.expiresAt > dbNow,
    remainingUs: Math.round((row.expiresAt - dbNow) * 1000),
  };
}

function matches(statement: StatementRecord, match: StatementMatch | undefined): boolean {
  if (!match) return true;
  if (match.kind !== undefined) {
    const kinds: readonly StatementKind[] = typeof match.kind === 'string' ? [match.kind] : match.kind;
    if (!kinds.includes(statement.kind)) return false;
  }
  if (match.client !== undefined && statement.client !== match.client) return false;
  if (match.holder !== undefined && statement.holder !== match.holder) return false;
  if (match.name !== undefined && statement.name !== match.name) return false;
  return true;
}
