import { createHash } from 'node:crypto';
import { createConnection, type Connection, type PoolOptions } from 'mysql2';
import { LeaseStoreError, type LeaseDoorbell } from './lease-store';
import { toLeaseStoreError } from './mysql-errors';

/** MySQL and MariaDB limit lock names to 64 characters. */
const MAX_LOCK_NAME = 64;

/** The named lock of one election: readable when it fits, a hash of table and election otherwise. */
export function doorbellLockName(tableName: string, election: string): string {
  const readable = `${tableName}:${election}`;
  if (readable.length <= MAX_LOCK_NAME) return readable;
  return `${tableName.slice(0, 20)}:${createHash('sha1').update(readable).digest('hex')}`;
}

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
  private threadId: number | undefined;
  private waiting = false;
  private closed = false;
  held = false;

  constructor(
    private readonly lockName: string,
    private readonly deps: DoorbellDeps,
  ) {}

  async hold(): Promise<boolean> {
    if (this.held) return true;
    const got = await this.getLock(0, this.deps.operationTimeoutMs);
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
        [this.lockName, this.lockName, seconds],
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
    await this.query('SELECT RELEASE_LOCK(?) AS released', [this.lockName], this.deps.operationTimeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Released explicitly, the lock goes to a waiter at once; a dropped session frees it only once the
    // server has noticed the disconnect.
    if (this.held) await this.release().catch(() => undefined);
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    this.held = false;
    if (!conn) return;
    if (this.waiting && this.threadId !== undefined) {
      // A blocked GET_LOCK would keep its server session waiting after the socket closes.
      await this.deps.poolQuery('KILL QUERY ?', [this.threadId]).catch(() => undefined);
    }
    conn.destroy();
  }

  private async getLock(seconds: number, deadlineMs: number): Promise<boolean> {
    return (
      (await this.lockResult('SELECT GET_LOCK(?, ?) AS got', [this.lockName, seconds], deadlineMs)) === 1
    );
  }

  /** Runs a lock statement returning one `got` column; NULL (an error inside GET_LOCK) throws. */
  private async lockResult(sql: string, params: unknown[], deadlineMs: number): Promise<number> {
    const rows = (await this.query(sql, params, deadlineMs)) as { got: number | string | null }[];
    const got = rows[0]?.got;
    if (got === null || got === undefined) {
      if (this.closed) return 0;
      throw new LeaseStoreError('not-applied', `GET_LOCK returned NULL for the doorbell "${this.lockName}".`);
    }
    return Number(got);
  }

  private async connect(): Promise<Connection> {
    if (this.closed) throw new LeaseStoreError('unreachable', 'The doorbell is closed.');
    if (this.conn) return this.conn;
    const conn = createConnection({
      ...this.deps.connection,
      connectTimeout: this.deps.operationTimeoutMs,
      enableKeepAlive: true,
      keepAliveInitialDelay: 10_000,
      multipleStatements: false,
    });
    conn.on('error', () => {
      // The lock went with the session: forget both; the next call reconnects.
      if (this.conn === conn) {
        this.conn = undefined;
        this.held = false;
      }
    });
    this.conn = conn;
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    this.threadId = conn.threadId ?? undefined;
    return conn;
  }

  private async query(sql: string, params: unknown[], deadlineMs: number): Promise<unknown> {
    let conn: Connection | undefined;
    try {
      conn = await this.connect();
      const c = conn;
      return await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new LeaseStoreError(
              'outcome-unknown',
              `The doorbell statement timed out after ${deadlineMs} ms.`,
            ),
          );
        }, deadlineMs);
        c.query(sql, params, (err, rows) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(rows);
        });
      });
    } catch (error) {
      // Whatever went wrong, this session's lock state is unknown: drop the session (and its lock).
      if (conn && this.conn === conn) {
        this.conn = undefined;
        this.held = false;
        conn.destroy();
      }
      throw toLeaseStoreError(error, this.deps.secrets);
    }
  }
}
