import { sql, type RawBuilder } from 'kysely';
import { LeasePool, type LeaseConnectionOptions, type StatementResult } from './lease-pool';
import { MysqlLeaseStore } from './mysql-lease-store';
import { compilerOnly } from './mysql-compiler';

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

/**
 * The operator's statements on the lease table (the CLI's `status`, `resign`, `migrate`): read every row,
 * take a lease from its holder without letting anybody else in early, apply the DDL.
 */
export class LeaseAdmin {
  private readonly pool: LeasePool;
  private readonly table: RawBuilder<unknown>;

  constructor(
    private readonly connection: LeaseConnectionOptions,
    private readonly tableName: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.pool = new LeasePool(connection, timeoutMs, 1);
    this.table = sql.table(tableName);
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

  /** Creates the lease table, or upgrades a 0.1.0 table, as the module does with `createTable: true`. */
  async migrate(): Promise<void> {
    const store = new MysqlLeaseStore({
      connection: this.connection,
      tableName: this.tableName,
      operationTimeoutMs: this.timeoutMs,
      poolSize: 1,
    });
    try {
      await store.ensureSchema();
    } finally {
      await store.close();
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async execute(statement: RawBuilder<unknown>): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    return this.pool.run(this.timeoutMs, (query) => query(text, parameters));
  }
}
