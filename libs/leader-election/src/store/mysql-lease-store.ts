import { sql, type RawBuilder } from 'kysely';
import { format } from 'mysql2';
import { LeaseStoreError, type LeaseDoorbell, type LeaseRow, type LeaseStore } from './lease-store';
import { MysqlDoorbell } from './mysql-doorbell';
import { LeasePool, type LeaseConnectionOptions, type StatementResult } from './lease-pool';
import {
  addFenceSeqColumnSql,
  addHandoverColumnSql,
  createLeaseTableSql,
  EXPIRED_AT,
  isBinaryCollation,
  leaseTableDdl,
  detectKeyCollation,
  UNKNOWN_COLLATION_ERRNOS,
  upgradeLeaseTableSql,
  type LeaseKeyCollation,
} from './lease-table';
import {
  addFenceSeqDeniedMessage,
  addHandoverColumnDeniedMessage,
  handoverColumnMissingMessage,
  createTableDeniedMessage,
  fenceSeqMissingMessage,
  leaseTableCollationMessage,
  leaseTableMissingMessage,
  noDatabaseMessage,
  upgradeTableDeniedMessage,
} from './lease-store.messages';
import { compilerOnly } from './mysql-compiler';
import type { TermEnd } from './terms-store';

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
  /** `manyText`'s texts, per kind, for the last list length. */
  private readonly texts = new Map<'read' | 'renew', { count: number; text: string }>();
  /** `boundText`'s statements, per kind, with the values last bound into them. */
  private readonly bound = new Map<'read' | 'renew', { values: readonly unknown[]; text: string }>();
  /** Settled once the table was found fit (by `ensureSchema`, or checked before the first row). */
  private schemaChecked: Promise<void> | undefined;

  /** Texts of the statements on a handover's path, built once: a handover binds values only. */
  private readonly fixed: {
    readonly acquireFree: string;
    readonly release: string;
    readonly releaseRinging: string;
  };

  constructor(private readonly options: MysqlLeaseStoreOptions) {
    this.pool = new LeasePool(options.connection, options.operationTimeoutMs, options.poolSize);
    this.table = sql.table(options.tableName);
    const expired = sql.lit(EXPIRED_AT);
    this.fixed = {
      // A ring's takeover (docs/design.md, "Doorbell").
      acquireFree: textOf(sql`
        UPDATE ${this.table}
        SET term = LAST_INSERT_ID(GREATEST(term, ?) + 1), holder = ?,
            acquired_at = UTC_TIMESTAMP(6), renewed_at = UTC_TIMESTAMP(6),
            expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, handover_to = ''
        WHERE name = ? AND (expires_at <= UTC_TIMESTAMP(6) OR holder = ?)`),
      release: textOf(sql`
        UPDATE ${this.table} SET expires_at = ${expired}
        WHERE name = ? AND holder = ? AND term = ?`),
      // The lock is freed in the SET clause, so only once the statement holds the row (SET is evaluated
      // per matched row, after its row lock was taken); an unmatched row leaves the lock held.
      releaseRinging: textOf(sql`
        UPDATE ${this.table} SET expires_at = ${expired} + INTERVAL COALESCE(RELEASE_LOCK(?), 0) * 0 MICROSECOND
        WHERE name = ? AND holder = ? AND term = ?`),
    };
  }

  async ensureSchema(): Promise<void> {
    // Look before creating: a user with only SELECT, INSERT, UPDATE on an existing table must not need
    // CREATE privilege (CREATE TABLE IF NOT EXISTS checks it even when the table exists).
    const { tableName } = this.options;
    const { columns, hasFenceSeq, hasHandoverTo } = await this.tableColumns();
    if (columns.length === 0) {
      const collation = await this.keyCollation();
      await this.execute(leaseTableDdl(tableName, collation)).catch((error: unknown) => {
        throw denied(error, (message) =>
          createTableDeniedMessage(tableName, createLeaseTableSql(tableName, collation), message),
        );
      });
    } else if (!columns.every((column) => isBinaryCollation(column.collation))) {
      // A 0.1.0 table (server's default collation): widening equality only, so the key stays unique.
      const upgrade = upgradeLeaseTableSql(tableName, await this.keyCollation());
      await this.pool
        .run(this.options.operationTimeoutMs, (query) => query(upgrade, []))
        .catch((error: unknown) => {
          throw denied(error, (message) => upgradeTableDeniedMessage(tableName, upgrade, message));
        });
    }
    if (columns.length > 0 && !hasFenceSeq) {
      // A table from an earlier version: add the column the Galera fence writes (instant on current servers).
      const alter = addFenceSeqColumnSql(tableName);
      await this.pool
        .run(this.options.operationTimeoutMs, (query) => query(alter, []))
        .catch((error: unknown) => {
          if ((error as LeaseStoreError).code === 1060) return; // duplicate column: another instance added it
          throw denied(error, (message) => addFenceSeqDeniedMessage(tableName, alter, message));
        });
    }
    if (columns.length > 0 && !hasHandoverTo) {
      // A table from an earlier version: add the handover target (instant on current servers).
      const alter = addHandoverColumnSql(tableName, await this.keyCollation());
      await this.pool
        .run(this.options.operationTimeoutMs, (query) => query(alter, []))
        .catch((error: unknown) => {
          if ((error as LeaseStoreError).code === 1060) return; // duplicate column: another instance added it
          throw denied(error, (message) => addHandoverColumnDeniedMessage(tableName, alter, message));
        });
    }
    this.schemaChecked = Promise.resolve();
  }

  async ensureRow(name: string): Promise<void> {
    // Without ensureSchema (createTable: false), check once that the user's table compares names byte
    // for byte: a 0.1.0 table would merge 'jobs' and 'Jobs' into one election.
    this.schemaChecked ??= this.checkSchema().catch((error: unknown) => {
      this.schemaChecked = undefined;
      throw error;
    });
    await this.schemaChecked;
    await this.execute(
      sql`INSERT INTO ${this.table} (name) VALUES (${name}) ON DUPLICATE KEY UPDATE name = name`,
    );
  }

  async read(name: string): Promise<LeaseRow | undefined> {
    const { rows } = await this.execute(sql`
      SELECT holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us, handover_to
      FROM ${this.table} WHERE name = ${name}`);
    const row = rows[0];
    return row ? toLeaseRow(row) : undefined;
  }

  async readMany(names: readonly string[]): Promise<Map<string, LeaseRow>> {
    // One statement for all elections of a process, every P: its text is built once per list length,
    // and each round only binds the names (no query builder per round).
    const text = this.manyText(
      'read',
      names.length,
      (list) =>
        sql`
      SELECT name, holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us, handover_to
      FROM ${this.table} WHERE name IN (${list})`,
    );
    const { rows } = await this.run(this.boundText('read', text, names), []);
    const result = new Map<string, LeaseRow>();
    for (const row of rows) result.set(String(row.name), toLeaseRow(row));
    return result;
  }

  async readPrefix(prefix: string): Promise<Map<string, LeaseRow>> {
    // A range scan of the primary key (name is compared byte for byte).
    const { rows } = await this.execute(sql`
      SELECT name, holder, term, expires_at > UTC_TIMESTAMP(6) AS valid,
             TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS remaining_us
      FROM ${this.table} WHERE name LIKE ${likePrefix(prefix)} ESCAPE '!'`);
    return new Map(rows.map((row) => [String(row.name), toLeaseRow(row)]));
  }

  async deleteExpiredPrefix(prefix: string, expiredForMs: number): Promise<number> {
    const { affectedRows } = await this.execute(sql`
      DELETE FROM ${this.table} WHERE name LIKE ${likePrefix(prefix)} ESCAPE '!'
        AND expires_at < UTC_TIMESTAMP(6) - INTERVAL ${toMicros(expiredForMs)} MICROSECOND`);
    return affectedRows;
  }

  async renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number> {
    // The round's renewal every R: text built once per list length, as readMany's.
    const text = this.manyText(
      'renew',
      leases.length,
      (pairs) =>
        sql`
      UPDATE ${this.table}
      SET renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND
      WHERE holder = ? AND (name, term) IN (${pairs})
        AND expires_at > UTC_TIMESTAMP(6) AND handover_to = ''`,
      '(?, ?)',
    );
    const params: unknown[] = [toMicros(leaseMs), holder];
    for (const { name, term } of leases) params.push(name, term);
    const { affectedRows } = await this.run(
      this.boundText('renew', text, params),
      [],
      this.renewalDeadline(leaseMs),
    );
    return affectedRows;
  }

  async acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm = observedTerm + 1,
  ): Promise<boolean> {
    // Compare-and-swap on the observed term. `term = IF(holder = ?, ...)` would be evaluated after
    // `holder` was already assigned (single-table SET runs left to right), hence the explicit new term.
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table}
      SET term = ${newTerm}, holder = ${holder},
          acquired_at = UTC_TIMESTAMP(6), renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(leaseMs)} MICROSECOND, handover_to = ''
      WHERE name = ${name} AND term = ${observedTerm}
        AND (expires_at <= UTC_TIMESTAMP(6) OR holder = ${holder})`);
    // mysql2 sets FOUND_ROWS, so this counts matched rows; every match changes `term`, so 1 means won.
    return affectedRows === 1;
  }

  async renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    const { affectedRows } = await this.execute(
      sql`
      UPDATE ${this.table}
      SET renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(leaseMs)} MICROSECOND
      WHERE name = ${name} AND holder = ${holder} AND term = ${term}
        AND expires_at > UTC_TIMESTAMP(6) AND handover_to = ''`,
      this.renewalDeadline(leaseMs),
    );
    return affectedRows === 1;
  }

  async acquireFree(
    name: string,
    holder: string,
    aboveTerm: number,
    leaseMs: number,
  ): Promise<number | undefined> {
    // `term` is assigned first (SET runs left to right), from the row's own term; LAST_INSERT_ID(expr)
    // hands the new term back in the OK packet, so no read is needed to learn it.
    const { affectedRows, insertId } = await this.run(this.fixed.acquireFree, [
      aboveTerm,
      holder,
      toMicros(leaseMs),
      name,
      holder,
    ]);
    if (affectedRows !== 1) return undefined;
    const term = Number(insertId);
    if (!Number.isSafeInteger(term) || term <= aboveTerm) {
      // Cannot happen with a conforming server; never act on a term that is not known to be new.
      throw new LeaseStoreError(
        'outcome-unknown',
        `The takeover of "${name}" returned no usable term (${String(insertId)}).`,
      );
    }
    return term;
  }

  async handOver(name: string, holder: string, term: number, to: string, windowMs: number): Promise<boolean> {
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table}
      SET holder = ${to}, handover_to = ${to}, renewed_at = UTC_TIMESTAMP(6),
          expires_at = UTC_TIMESTAMP(6) + INTERVAL ${toMicros(windowMs)} MICROSECOND
      WHERE name = ${name} AND holder = ${holder} AND term = ${term}
        AND expires_at > UTC_TIMESTAMP(6)`);
    return affectedRows === 1;
  }

  async requestHandover(name: string, term: number, to: string): Promise<boolean> {
    const { affectedRows } = await this.execute(sql`
      UPDATE ${this.table} SET handover_to = ${to}
      WHERE name = ${name} AND term = ${term} AND expires_at > UTC_TIMESTAMP(6)
        AND handover_to = '' AND holder <> ${to}`);
    return affectedRows === 1;
  }

  async release(
    name: string,
    holder: string,
    term: number,
    _end?: TermEnd,
    doorbell?: LeaseDoorbell,
  ): Promise<boolean> {
    if (doorbell instanceof MysqlDoorbell && doorbell.held) {
      // The row and the named lock in one statement on the doorbell's session (docs/design.md, "Doorbell").
      try {
        return await doorbell.releaseWithRow(this.fixed.releaseRinging, [name, holder, term]);
      } catch {
        // That session (and its lock) is gone, the statement's outcome unknown: release on a lease
        // connection instead (the same UPDATE; a second match changes nothing).
      }
    }
    const { affectedRows } = await this.run(this.fixed.release, [name, holder, term]);
    return affectedRows === 1;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  openDoorbell(name: string): LeaseDoorbell {
    return new MysqlDoorbell(this.options.tableName, name, {
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

  private execute(
    statement: RawBuilder<unknown>,
    deadlineMs: number = this.options.operationTimeoutMs,
  ): Promise<StatementResult> {
    const { sql: text, parameters } = statement.compile(compilerOnly);
    return this.run(text, parameters, deadlineMs);
  }

  private async run(
    text: string,
    parameters: readonly unknown[],
    deadlineMs: number = this.options.operationTimeoutMs,
  ): Promise<StatementResult> {
    try {
      return await this.pool.run(deadlineMs, (query) => query(text, parameters));
    } catch (error) {
      throw this.explain(error);
    }
  }

  /**
   * The text of a statement over a list of `count` items (`item`: the placeholders of one, joined with
   * commas into the `list` that `build` places), kept per `kind` for the last count: the batched reads
   * and renewals of a process repeat with the same count every round. Its placeholders are bound in the
   * order they appear; `build` must use no other parameters than literal `?`.
   */
  private manyText(
    kind: 'read' | 'renew',
    count: number,
    build: (list: RawBuilder<unknown>) => RawBuilder<unknown>,
    item = '?',
  ): string {
    const cached = this.texts.get(kind);
    if (cached?.count === count) return cached.text;
    const list = sql.raw(Array.from({ length: count }, () => item).join(', '));
    const text = textOf(build(list));
    this.texts.set(kind, { count, text });
    return text;
  }

  /**
   * `text` with `values` bound, escaped by mysql2's own `format` exactly as a query with values is, and
   * kept per `kind` for the values last bound: a round binds the same names (and terms) every R or P, and
   * formatting 2,000 values anew each time was a tenth of a 1,000-election process's CPU.
   */
  private boundText(kind: 'read' | 'renew', text: string, values: readonly unknown[]): string {
    const cached = this.bound.get(kind);
    if (cached && sameValues(cached.values, values)) return cached.text;
    const bound = format(text, values as Parameters<typeof format>[1]);
    // A copy: a caller may reuse and change its array after the statement went out.
    this.bound.set(kind, { values: values.slice(), text: bound });
    return bound;
  }

  /**
   * The deadline of a renewal. On Galera a commit stalls while the cluster notices a lost node (its suspect
   * timeout, 5 s by default) and forms a new primary component; a renewal that gave up at
   * `operationTimeoutMs` would count as outcome unknown and make the leader step down although its node
   * is fine. A renewal may safely take up to the lease: the leader's local validity runs from the
   * renewal's send time (L - M), and it steps down when that passes, answered or not.
   */
  private renewalDeadline(leaseMs: number): number {
    return this.pool.galera
      ? Math.max(this.options.operationTimeoutMs, leaseMs)
      : this.options.operationTimeoutMs;
  }

  /** Replaces the server's text of the configuration errors a user meets first with one naming the fix. */
  private explain(error: unknown): unknown {
    if (!(error instanceof LeaseStoreError)) return error;
    if (error.code === 1046) {
      return new LeaseStoreError('configuration', noDatabaseMessage(this.options.tableName), 1046);
    }
    if (error.code === 1146) {
      return new LeaseStoreError('configuration', leaseTableMissingMessage(this.options.tableName), 1146);
    }
    return error;
  }

  /**
   * `name` and `holder` of the lease table with their collations (none when the table is missing), and
   * whether it has `fence_seq`. Columns of an empty outer join: no row is read and information_schema
   * is not touched (a query on it crashed MariaDB 10.11 under load here, signal 11).
   */
  private async tableColumns(): Promise<{
    columns: { name: string; collation: string | null }[];
    hasFenceSeq: boolean;
    hasHandoverTo: boolean;
  }> {
    const emptyJoin = (columns: RawBuilder<unknown>) =>
      this.execute(sql`SELECT ${columns} FROM (SELECT 1 AS one) AS x LEFT JOIN ${this.table} AS t ON FALSE`);
    let rows: readonly Record<string, unknown>[];
    try {
      ({ rows } = await emptyJoin(
        sql`COLLATION(t.name) AS name_collation, COLLATION(t.holder) AS holder_collation`,
      ));
    } catch (error) {
      if (error instanceof LeaseStoreError && error.code === 1146)
        return { columns: [], hasFenceSeq: false, hasHandoverTo: false };
      throw error;
    }
    const hasColumn = (column: RawBuilder<unknown>) =>
      emptyJoin(column).then(
        () => true,
        (error: unknown) => {
          if (error instanceof LeaseStoreError && error.code === 1054) return false; // unknown column
          throw error;
        },
      );
    const hasFenceSeq = await hasColumn(sql`t.fence_seq`);
    const hasHandoverTo = await hasColumn(sql`t.handover_to`);
    const collation = (value: unknown) => (value === undefined || value === null ? null : String(value));
    return {
      columns: [
        { name: 'name', collation: collation(rows[0]?.name_collation) },
        { name: 'holder', collation: collation(rows[0]?.holder_collation) },
      ],
      hasFenceSeq,
      hasHandoverTo,
    };
  }

  /** The table must exist and compare names byte for byte; otherwise a configuration error says what to run. */
  private async checkSchema(): Promise<void> {
    const { tableName } = this.options;
    const { columns, hasFenceSeq, hasHandoverTo } = await this.tableColumns();
    if (columns.length === 0) {
      throw new LeaseStoreError('configuration', leaseTableMissingMessage(tableName), 1146);
    }
    if (!columns.every((column) => isBinaryCollation(column.collation))) {
      throw new LeaseStoreError(
        'configuration',
        leaseTableCollationMessage(tableName, upgradeLeaseTableSql(tableName)),
      );
    }
    if (!hasFenceSeq) {
      throw new LeaseStoreError(
        'configuration',
        fenceSeqMissingMessage(tableName, addFenceSeqColumnSql(tableName)),
      );
    }
    if (!hasHandoverTo) {
      throw new LeaseStoreError(
        'configuration',
        handoverColumnMissingMessage(tableName, addHandoverColumnSql(tableName)),
      );
    }
  }

  /**
   * The server's binary collation that also keeps trailing spaces significant (NO PAD), else `utf8mb4_bin`.
   */
  private keyCollation(): Promise<LeaseKeyCollation> {
    return detectKeyCollation((probe) =>
      this.execute(probe).then(
        () => true,
        (error: unknown) => {
          if (error instanceof LeaseStoreError && UNKNOWN_COLLATION_ERRNOS.includes(Number(error.code))) {
            return false;
          }
          throw error;
        },
      ),
    );
  }
}

/** A denied DDL (1142) as a configuration error whose message gives the statement to run instead. */
function denied(error: unknown, message: (serverMessage: string) => string): unknown {
  if (error instanceof LeaseStoreError && error.code === 1142) {
    return new LeaseStoreError('configuration', message(error.message), 1142);
  }
  return error;
}

function toLeaseRow(row: Record<string, unknown>): LeaseRow {
  return {
    holder: String(row.holder),
    term: Number(row.term),
    valid: Number(row.valid) === 1,
    remainingUs: Number(row.remaining_us),
    handoverTo: row.handover_to === undefined || row.handover_to === null ? '' : String(row.handover_to),
  };
}

function toMicros(ms: number): number {
  return Math.round(ms * 1000);
}

/** A LIKE pattern matching names that start with `prefix` (escape character `!`, whatever the SQL mode). */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/** Whether two lists of statement values are the same, value for value. */
function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The text of a statement whose placeholders are all literal `?` (bound at each run, in order). */
function textOf(statement: RawBuilder<unknown>): string {
  const { sql: text, parameters } = statement.compile(compilerOnly);
  if (parameters.length > 0) throw new Error('textOf: the statement has bound parameters');
  return text;
}
