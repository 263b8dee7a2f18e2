import { sql, type RawBuilder } from 'kysely';
import type { LeaseDoorbell, LeaseRow, LeaseStore, LeaseStoreError } from './lease-store';
import { doorbellLockName, MysqlDoorbell } from './mysql-doorbell';
import { LeasePool, type LeaseConnectionOptions, type StatementResult } from './lease-pool';
import { EXPIRED_AT, leaseTableDdl } from './lease-table';
import { compilerOnly } from './mysql-compiler';

/** Settings of the MySQL lease store. */
export interface MysqlLeaseStoreOptions {
  readonly connection: LeaseConnectionOptions;
  readonly tableName: string;
  /** One deadline per operation: pool wait plus statement. */
  readonly operationTimeoutMs: number;
  /** Connections of the lease pool (default 2). */
  readonly poolSize?: number;
}

/**
 * The lease statements of docs/design.md on a dedicated pool. All time is the server's `UTC_TIMESTAMP(6)`;
 * no host clock enters any statement.
 */
export class MysqlLeaseStore implements LeaseStore {
  private readonly pool: LeasePool;
  private readonly table: RawBuilder<unknown>;

  constructor(private readonly options: MysqlLeaseStoreOptions) {
    this.pool = new LeasePool(options.connection, options.operationTimeoutMs, options.poolSize);
    this.table = sql.table(options.tableName);
  }

  async ensureSchema(): Promise<void> {
    await this.execute(leaseTableDdl(this.options.tableName));
  }

  async ensureRow(name: string): Promise<void> {
    await this.execute(
      sql`INSERT INTO ${this.table} (name) VALUES (${name}) ON DUPLICATE KEY UPDATE name = name`,
    );
  }

  async read(name: string): Promise<LeaseRow | undefined> {
    const { rows } = await this.execute(sql`
      SELECT holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} WHERE name = ${name}`);
    const row = rows[0];
    return row ? toLeaseRow(row) : undefined;
  }

  async readMany(names: readonly string[]): Promise<Map<string, LeaseRow>> {
    const { rows } = await this.execute(sql`
      SELECT name, holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} WHERE name IN (${sql.join(names)})`);
    return new Map(rows.map((row) => [String(row.name), toLeaseRow(row)]));
  }

  async renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number> {
    const pairs = sql.join(leases.map(({ name, term }) => sql`(${name}, ${term})`));
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table}
      SET renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(leaseMs)} MICROSECOND
      WHERE holder = ${holder} AND (name, term) IN (${pairs})
        AND expires_at > UTC_TIMESTAMP(6)`);
    return affectedRows;
  }

  async acquire(name: string, holder: string, observedTerm: number, leaseMs: number): Promise<boolean> {
    // Compare-and-swap on the observed term. `term = IF(holder = ?, ...)` would be evaluated after
    // `holder` was already assigned (single-table SET runs left to right), hence the explicit new term.
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table}
      SET term = ${observedTerm + 1}, holder = ${holder},
          acquired_at = UTC_TIMESTAMP(6), renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(leaseMs)} MICROSECOND
      WHERE name = ${name} AND term = ${observedTerm}
        AND (expires_at <= UTC_TIMESTAMP(6) OR holder = ${holder})`);
    // mysql2 sets FOUND_ROWS, so this counts matched rows; every match changes `term`, so 1 means won.
    return affectedRows === 1;
  }

  async renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table}
      SET renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(leaseMs)} MICROSECOND
      WHERE name = ${name} AND holder = ${holder} AND term = ${term}
        AND expires_at > UTC_TIMESTAMP(6)`);
    return affectedRows === 1;
  }

  async release(name: string, holder: string, term: number): Promise<boolean> {
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table} SET expires_at = ${EXPIRED_AT}
      WHERE name = ${name} AND holder = ${holder} AND term = ${term}`);
    return affectedRows === 1;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  openDoorbell(name: string): LeaseDoorbell {
    return new MysqlDoorbell(doorbellLockName(this.options.tableName, name), {
      connection: this.pool.connectionOptions,
      secrets: this.pool.secrets,
      operationTimeoutMs: this.options.operationTimeoutMs,
      poolQuery: (text, params) =>
        this.pool.run(this.options.operationTimeoutMs, (query) => query(text, params)),
    });
  }

  async doorbellUnsupportedReason(): Promise<string | undefined> {
    // Galera does not replicate named locks: a standby on another node would never hear the doorbell.
    try {
      const { rows } = await this.execute(sql`SELECT @@wsrep_on AS wsrep`);
      if (Number(rows[0]?.wsrep) === 1) return 'Galera (wsrep_on) does not share named locks between nodes';
    } catch (error) {
      // 1193 unknown variable: not a Galera-enabled server. Anything else: ask again later.
      if ((error as LeaseStoreError).code !== 1193) throw error;
    }
    return undefined;
  }

  private execute(statement: RawBuilder<unknown>): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    return this.pool.run(this.options.operationTimeoutMs, (query) => query(text, parameters));
  }
}

function toLeaseRow(row: Record<string, unknown>): LeaseRow {
  return {
    holder: String(row.holder),
    term: Number(row.term),
    valid: Number(row.valid) === 1,
    remainingUs: Number(row.remaining_us),
  };
}

function toMicros(ms: number): number {
  return Math.round(ms * 1000);
}
