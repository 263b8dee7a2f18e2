import {
  LeaseStoreError,
  type LeaseErrorKind,
  type LeaseRow,
  type LeaseStore,
} from '../src/store/lease-store';
import type { FakeClock } from './fake-clock';

/** The statements of DESIGN.md, by the `LeaseStore` method that sends them. */
export type StatementKind = 'ensureSchema' | 'ensureRow' | 'read' | 'acquire' | 'renew' | 'release';

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
  readonly leaseMs?: number;
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
  /** What it returned (`affectedRows === 1` for updates; the row for reads), when it ran. */
  result?: boolean | LeaseRow;
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
 * An in-memory `LeaseStore` with the exact semantics of DESIGN.md's statements, judged on a database clock
 * derived from a `FakeClock`:
 *
 * - acquire: compare-and-swap on the observed term, only when `expires_at <= now OR holder = me`; the new
 *   term is observed + 1;
 * - renew: only when holder and term match and the lease has not expired;
 * - release: `expires_at` goes to 1970, holder and term stay;
 * - read: `valid` and `remainingUs` on the database's clock.
 *
 * Several candidates share one instance. Each statement is recorded; it can be delayed (it runs at
 * `sent + latency / 2` and answers at `sent + latency`), held until the test releases it, or failed.
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

  constructor(
    private readonly clock: FakeClock,
    options: MemoryLeaseStoreOptions = {},
  ) {
    this.dbClockOffsetMs = options.dbClockOffsetMs ?? Date.UTC(2030, 5, 1, 12) + 123.456;
    this.latency = options.latencyMs ?? 0;
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
  acquire(name: string, holder: string, observedTerm: number, leaseMs: number): Promise<boolean> {
    return this.viaClient(undefined).acquire(name, holder, observedTerm, leaseMs);
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

  // ---- faults ----------------------------------------------------------------------------------------

  /** The next `count` matching statements fail with `kind` (`Infinity`: until `clearFaults()`). */
  failNext(count: number, kind: LeaseErrorKind, options: FaultOptions = {}): void {
    this.faults.push({ remaining: count, kind, options });
  }

  /** Removes every pending injected failure. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The next `count` matching statements hang (neither run nor answer) until `resumeHung()` / `failHung()`. */
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
    return {
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
          if (!row) return undefined;
          return {
            holder: row.holder,
            term: row.term,
            valid: row.expiresAt > now,
            remainingUs: Math.round((row.expiresAt - now) * 1000),
          };
        }),
      acquire: (name, holder, observedTerm, leaseMs) =>
        this.submit({ kind: 'acquire', client, name, holder, term: observedTerm, leaseMs }, (now) => {
          const row = this.rows.get(name);
          if (!row || row.term !== observedTerm || !(row.expiresAt <= now || row.holder === holder))
            return false;
          this.rows.set(name, {
            holder,
            term: observedTerm + 1,
            acquiredAt: now,
            renewedAt: now,
            expiresAt: now + leaseMs,
          });
          return true;
        }),
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

  private submit<T extends boolean | LeaseRow | undefined>(
    info: Pick<StatementRecord, 'kind' | 'client' | 'name' | 'holder' | 'term' | 'leaseMs'>,
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
