import { createHash } from 'node:crypto';
import { createConnection, type Connection, type PoolOptions } from 'mysql2';
import { LeaseStoreError, type LeaseDoorbell } from './lease-store';
import { LEASE_SESSION_SETUP } from './lease-pool';
import { toLeaseStoreError } from './mysql-errors';

/** MySQL and MariaDB limit lock names to 64 characters. */
const MAX_LOCK_NAME = 64;

/**
 * The named lock of one election. Named locks are global to the server, not per database: the name carries
 * the database and the table, so that two services on one server never share a lock. Readable when it fits
 * in 64 characters, otherwise a readable prefix and a hash of all three.
 */
export function doorbellLockName(database: string, tableName: string, election: string): string {
  const readable = `${database}.${tableName}:${election}`;
  if (readable.length <= MAX_LOCK_NAME) return readable;
  const hash = createHash('sha1')
    .update(JSON.stringify([database, tableName, election]))
    .digest('hex');
  return `${readable.slice(0, MAX_LOCK_NAME - hash.length - 1)}:${hash}`;
}

/** Server-side statement time limits that would cut a doorbell wait short: one per server flavour. */
const UNLIMITED_STATEMENT_TIME = [
  'SET SESSION max_statement_time = 0', // MariaDB
  'SET SESSION max_execution_time = 0', // MySQL
];
/** ER_UNKNOWN_SYSTEM_VARIABLE: the other flavour's setting. */
const UNKNOWN_VARIABLE = 1193;

/** What the doorbell needs to run statements on the lease pool (to cancel its own wait). */
export interface DoorbellDeps {
  readonly connection: PoolOptions;
  readonly secrets: readonly string[];
  readonly operationTimeoutMs: number;
  /** Runs one statement on the lease pool. */
  readonly poolQuery: (sql: string, params: readonly unknown[]) => Promise<unknown>;
}

/**
 * A named lock on a connection of its own: the lock lives exactly as long as that session, so the
 * server frees it when the process dies. `GET_LOCK` is recursive on MySQL 5.7+, so this object tracks
 * whether it holds the lock and never takes it twice.
 */
export class MysqlDoorbell implements LeaseDoorbell {
  private conn: Connection | undefined;
  private ready: Promise<Connection> | undefined;
  /** `conn` once connected and set up (until it is dropped or closed). */
  private live: Connection | undefined;
  /** Known once connected: it carries the connection's database (`SELECT DATABASE()`). */
  private lockName: string | undefined;
  private threadId: number | undefined;
  private waiting = false;
  private closed = false;
  held = false;

  constructor(
    private readonly tableName: string,
    private readonly election: string,
    private readonly deps: DoorbellDeps,
  ) {}

  async hold(): Promise<boolean> {
    if (this.held) return true;
    const got =
      (await this.lockResult(
        'SELECT GET_LOCK(?, ?) AS got',
        (name) => [name, 0],
        this.deps.operationTimeoutMs,
      )) === 1;
    this.held = got;
    return got;
  }

  async wait(timeoutMs: number): Promise<'rung' | 'timeout' | 'unheld'> {
    if (this.held) return 'rung';
    this.waiting = true;
    try {
      const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
      // Wait only when somebody holds the lock: a free lock means no leader holds it (yet), and taking
      // it would only keep the leader from holding it.
      const got = await this.lockResult(
        'SELECT IF(IS_USED_LOCK(?) IS NULL, -1, GET_LOCK(?, ?)) AS got',
        (name) => [name, name, seconds],
        seconds * 1000 + this.deps.operationTimeoutMs,
      );
      if (got === -1) return 'unheld';
      this.held = got === 1;
      return this.held ? 'rung' : 'timeout';
    } finally {
      this.waiting = false;
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.query('SELECT RELEASE_LOCK(?) AS released', (name) => [name], this.deps.operationTimeoutMs);
  }

  /**
   * Runs the store's `text` on this session: an UPDATE of the lease row whose SET clause frees this lock
   * (its first placeholder is the lock name, then `params`). The server frees the lock while the statement
   * holds the row's lock, so a standby it wakes finds the row released: its compare-and-swap waits for the
   * commit. One round trip instead of the release and then `RELEASE_LOCK`. Resolves `true` when the row
   * was released, and the lock with it; with `false` nothing matched and the lock is still held.
   */
  async releaseWithRow(text: string, params: readonly unknown[]): Promise<boolean> {
    if (!this.held) return false;
    const result = (await this.query(text, (name) => [name, ...params], this.deps.operationTimeoutMs)) as {
      affectedRows?: number;
    };
    if (result.affectedRows !== 1) return false;
    this.held = false;
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Released explicitly, the lock goes to a waiter at once; a dropped session frees it only once the
    // server has noticed the disconnect.
    if (this.held) await this.release().catch(() => undefined);
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    this.ready = undefined;
    this.live = undefined;
    this.held = false;
    if (!conn) return;
    if (this.waiting && this.threadId !== undefined) {
      // A blocked GET_LOCK would keep its server session waiting after the socket closes.
      await this.deps.poolQuery('KILL QUERY ?', [this.threadId]).catch(() => undefined);
    }
    conn.destroy();
  }

  /** Runs a lock statement returning one `got` column; NULL (an error inside GET_LOCK) throws. */
  private async lockResult(
    sql: string,
    params: (lockName: string) => unknown[],
    deadlineMs: number,
  ): Promise<number> {
    const rows = (await this.query(sql, params, deadlineMs)) as { got: number | string | null }[];
    const got = rows[0]?.got;
    if (got === null || got === undefined) {
      if (this.closed) return 0;
      throw new LeaseStoreError(
        'not-applied',
        `GET_LOCK returned NULL for the doorbell "${this.lockName ?? this.election}".`,
      );
    }
    return Number(got);
  }

  /** The session, connected and set up (shared by concurrent callers while it is being set up). */
  private connect(): Promise<Connection> {
    if (this.closed) return Promise.reject(new LeaseStoreError('unreachable', 'The doorbell is closed.'));
    if (this.conn && this.ready) return this.ready;
    const conn = createConnection({
      ...this.deps.connection,
      connectTimeout: this.deps.operationTimeoutMs,
      enableKeepAlive: true,
      keepAliveInitialDelay: 10_000,
      multipleStatements: false,
    });
    conn.on('error', () => {
      // The lock went with the session: forget both; the next call reconnects.
      if (this.conn === conn) this.dropSession();
    });
    this.conn = conn;
    const ready = (async () => {
      await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
      // The lease sessions' own settings (autocommit above all): this session also releases the row.
      await rawQuery(conn, LEASE_SESSION_SETUP, []);
      // A server-wide max_statement_time / max_execution_time below the wait would kill every GET_LOCK
      // wait and turn the doorbell off: this session waits as long as it asks to.
      for (const statement of UNLIMITED_STATEMENT_TIME) {
        await rawQuery(conn, statement, []).catch((error: { errno?: number }) => {
          if (error.errno !== UNKNOWN_VARIABLE) throw error;
        });
      }
      const rows = (await rawQuery(conn, 'SELECT DATABASE() AS db', [])) as { db: string | null }[];
      this.lockName ??= doorbellLockName(rows[0]?.db ?? '', this.tableName, this.election);
      this.threadId = conn.threadId ?? undefined;
      if (this.conn === conn) this.live = conn;
      return conn;
    })();
    this.ready = ready;
    return ready;
  }

  /** Forgets the session and its lock, and closes its socket. */
  private dropSession(): void {
    const conn = this.conn;
    this.conn = undefined;
    this.ready = undefined;
    this.live = undefined;
    this.held = false;
    conn?.destroy();
  }

  /** One statement on the doorbell session; `deadlineMs` covers connecting and setting it up as well. */
  private async query(
    sql: string,
    params: (lockName: string) => unknown[],
    deadlineMs: number,
  ): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new LeaseStoreError('outcome-unknown', `The doorbell statement timed out after ${deadlineMs} ms.`),
        );
      }, deadlineMs);
    });
    let conn: Connection | undefined;
    try {
      const connecting = this.connect();
      conn = this.conn;
      // Connected: the statement is written in the caller's turn.
      const c = this.live ?? (await Promise.race([connecting, deadline]));
      const values = params(this.lockName!);
      return await Promise.race([
        new Promise<unknown>((resolve, reject) => {
          c.query(sql, values, (err, rows) => (err ? reject(err) : resolve(rows)));
        }),
        deadline,
      ]);
    } catch (error) {
      // Whatever went wrong, this session's lock state is unknown: drop the session (and its lock).
      if (conn && this.conn === conn) this.dropSession();
      throw toLeaseStoreError(error, this.deps.secrets);
    } finally {
      clearTimeout(timer);
    }
  }
}

function rawQuery(conn: Connection, sql: string, params: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) =>
    conn.query(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))),
  );
}
