import { createPool, type Pool, type PoolConnection, type PoolOptions } from 'mysql2';
import { LeaseStoreError } from './lease-store';
import {
  isOutsidePrimaryComponent,
  mustDestroyConnection,
  toLeaseStoreError,
  type DriverErrorLike,
} from './mysql-errors';

/**
 * Lease traffic never shares the application's pool: application load must not starve renewals. Two
 * connections when standbys poll; one when they have doorbells, which bring a connection each.
 */
const DEFAULT_LEASE_POOL_SIZE = 2;
/** How long a lease connection beyond the ones kept idle stays open without a statement. */
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

// autocommit = 1: a server whose default is autocommit=0 (my.cnf, init_connect) would otherwise leave every
// lease statement in an open transaction that a dropped connection rolls back: two leaders of one term.
// Short lock waits: a lease statement that waits on a lock is better failed and retried inside its
// deadline. UTC session time zone so that nothing on these connections depends on the server's zone.
export const LEASE_SESSION_SETUP =
  "SET SESSION autocommit = 1, innodb_lock_wait_timeout = 1, lock_wait_timeout = 5, time_zone = '+00:00'";

/** Asks whether the connection is a Galera node (MySQL without wsrep answers 1193, unknown variable). */
const WSREP_PROBE = 'SELECT @@wsrep_on AS wsrep';
const UNKNOWN_VARIABLE = 1193;

/**
 * The extra setup of a session on a Galera node (`wsrep_on` = 1): `wsrep_sync_wait = 1` makes its reads
 * wait until the node has applied every write the cluster committed before them (docs/design.md, "Topologies").
 */
function wsrepSessionSetup(wsrepOn: unknown): string | undefined {
  return Number(wsrepOn) === 1 ? 'SET SESSION wsrep_sync_wait = 1' : undefined;
}

/** The result of one statement: rows for a SELECT, `affectedRows` (and `insertId`) for a write. */
export interface StatementResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly affectedRows: number;
  /** The OK packet's last insert id: also what `LAST_INSERT_ID(expr)` in the statement set. */
  readonly insertId?: number;
}

/** One server: a `mysql://` URI or mysql2 pool options. */
export type LeaseNodeOptions = string | PoolOptions;

/**
 * Where the lease pool connects: one server, or the nodes of a Galera cluster (lease traffic goes to one
 * of them at a time and moves on when that one fails or leaves the primary component).
 */
export type LeaseConnectionOptions = LeaseNodeOptions | readonly LeaseNodeOptions[];

/** The Galera status a node must report to carry lease traffic. */
const WSREP_STATUS =
  "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state', 'wsrep_cluster_status')";

/** Returns the password of a connection option, so that it can be kept out of every message. */
export function connectionSecrets(connection: LeaseConnectionOptions): string[] {
  if (Array.isArray(connection)) {
    return (connection as readonly LeaseNodeOptions[]).flatMap((node) => connectionSecrets(node));
  }
  if (typeof connection !== 'string') {
    connection = connection as PoolOptions;
    const uriSecrets = connection.uri ? connectionSecrets(connection.uri) : [];
    const password = typeof connection.password === 'string' ? connection.password : undefined;
    return [...uriSecrets, ...(password ? [password] : [])];
  }
  try {
    const url = new URL(connection);
    return url.password ? [url.password, decodeURIComponent(url.password)] : [];
  } catch {
    return [];
  }
}

/**
 * A dedicated two-connection mysql2 pool whose every operation has one deadline covering the wait for a
 * connection and the statements. mysql2's own per-query timeout neither stops the query nor frees the
 * connection, so on a missed deadline or a fatal error the connection is destroyed instead of returned.
 */
export class LeasePool {
  private pool: Pool;
  /** Passwords to keep out of every message. */
  readonly secrets: string[];
  /** Per node: the user's connection settings without pool settings. */
  private readonly nodes: readonly PoolOptions[];
  /** The node lease traffic goes to now (index into `nodes`). */
  private current = 0;
  private closed = false;
  /** True once a connection found the server to be a Galera node (`wsrep_on` = 1). */
  galera = false;
  /** Connections whose session setup succeeded; any other connection runs it before its first statement. */
  private readonly prepared = new WeakSet<PoolConnection>();
  /** Connections handed back to the pool, with when (monotonic ms): the ones `trimIdle` may close. */
  private readonly idleSince = new Map<PoolConnection, number>();
  /** Armed only while more than `maxIdle` connections are idle: an idle pool wakes nobody. */
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(
    connection: LeaseConnectionOptions,
    private readonly connectTimeoutMs: number,
    private readonly poolSize: number = DEFAULT_LEASE_POOL_SIZE,
    /** The statement that prepares each new connection (replaceable so that tests can make it fail). */
    private readonly sessionSetup: string = LEASE_SESSION_SETUP,
    /** Connections kept open while idle (0: every connection closes after `idleTimeoutMs` without a statement). */
    private readonly maxIdle = 1,
    /** How long a connection beyond `maxIdle` stays open without a statement. */
    private readonly idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
  ) {
    this.secrets = connectionSecrets(connection);
    const list = (Array.isArray(connection) ? connection : [connection]) as readonly LeaseNodeOptions[];
    this.nodes = list.map((node) => {
      const base: PoolOptions = typeof node === 'string' ? { uri: node } : { ...node };
      for (const poolOnly of [
        'connectionLimit',
        'maxIdle',
        'idleTimeout',
        'waitForConnections',
        'queueLimit',
      ] as const) {
        delete base[poolOnly];
      }
      return Object.freeze(base);
    });
    this.pool = this.openPool();
  }

  /** The current node's connection settings without pool settings, for single connections (doorbells). */
  get connectionOptions(): PoolOptions {
    return Object.freeze({
      ...this.nodes[this.current],
      supportBigNumbers: true,
      dateStrings: true,
      timezone: 'Z',
    });
  }

  /** How many nodes lease traffic may use (1 unless `connection` listed several). */
  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The index (0-based, in `connection`'s order) of the node lease traffic goes to now. */
  get currentNode(): number {
    return this.current;
  }

  /**
   * Moves lease traffic to the next node after a failure on `failed` (the pool the failure happened on;
   * a switch already made by a concurrent failure is not repeated). The old pool is ended: statements
   * still running on it fail, and the elector treats them by their class as always.
   */
  private failover(failed: Pool): void {
    if (this.nodes.length < 2 || this.closed || failed !== this.pool) return;
    this.current = (this.current + 1) % this.nodes.length;
    this.idleSince.clear(); // the old pool's connections end with it
    this.pool = this.openPool();
    failed.end(() => undefined);
  }

  private openPool(): Pool {
    const { connectTimeoutMs, poolSize } = this;
    const pool = createPool({
      ...this.nodes[this.current],
      connectionLimit: poolSize,
      // mysql2 closes idle connections beyond maxIdle from a timer that fires every second for the
      // pool's whole life (a wake-up a second in every idle process): this pool trims its own idle
      // connections instead (`trimIdle`), from a timer armed only while there are any to close.
      maxIdle: poolSize,
      waitForConnections: true,
      queueLimit: 0,
      connectTimeout: connectTimeoutMs,
      enableKeepAlive: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      timezone: 'Z',
      multipleStatements: false,
    });
    // Connection-level errors surface on the statement that meets them; this only keeps them from
    // becoming unhandled 'error' events.
    pool.on('connection', (conn) => {
      conn.on('error', () => undefined);
    });
    return pool;
  }

  /**
   * Runs `work` on one connection, within `deadlineMs` from now (pool wait included). The connection is
   * destroyed when the deadline passes or a fatal error occurs, and returned to the pool otherwise.
   */
  run<T>(
    deadlineMs: number,
    work: (query: (sql: string, params: readonly unknown[]) => Promise<StatementResult>) => Promise<T>,
  ): Promise<T> {
    if (this.closed) {
      return Promise.reject(new LeaseStoreError('unreachable', 'The lease store is closed.'));
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let conn: PoolConnection | undefined;
      let sent = false;
      let destroyed = false;
      const destroy = () => {
        if (conn && !destroyed) {
          destroyed = true;
          conn.destroy();
        }
      };
      const finish = (error: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (conn && !destroyed) this.giveBack(conn);
        if (error) reject(error);
        else resolve(value as T);
      };
      const timer = setTimeout(() => {
        destroy();
        this.failover(pool);
        finish(
          new LeaseStoreError(
            sent ? 'outcome-unknown' : 'unreachable',
            sent
              ? `The database did not answer a lease statement within ${deadlineMs} ms; its outcome is unknown.`
              : `No lease connection could be opened within ${deadlineMs} ms.`,
            'DEADLINE',
          ),
        );
      }, deadlineMs);

      // Before any statement was sent (handshake reset, connect timeout, failed setup) nothing can have
      // applied: such a failure is `unreachable`, never `outcome-unknown`, and is tried once more on
      // another connection while the deadline allows. A leader must not step down because a fresh
      // connection could not be opened.
      // With several nodes, the retry goes to the next node.
      let attemptsLeft = this.nodes.length > 1 ? 3 : 2;
      let pool = this.pool;
      const connectFailed = (error: unknown) => {
        const storeError = this.toStoreError(error);
        if (storeError.kind !== 'configuration') this.failover(pool);
        const failure =
          storeError.kind === 'outcome-unknown'
            ? new LeaseStoreError('unreachable', storeError.message, storeError.code)
            : storeError;
        destroy();
        conn = undefined;
        destroyed = false;
        if (--attemptsLeft > 0 && failure.kind !== 'configuration') obtain();
        else finish(failure);
      };

      const obtain = () => {
        pool = this.pool;
        pool.getConnection((error, connection) => {
          if (settled) {
            // The deadline passed while waiting: give the connection straight back.
            if (connection) this.giveBack(connection);
            return;
          }
          if (error) {
            connectFailed(error);
            return;
          }
          conn = connection;
          this.idleSince.delete(connection);
          const query = (sql: string, params: readonly unknown[]) =>
            new Promise<StatementResult>((res, rej) => {
              sent = true;
              connection.query(sql, params as unknown[], (err, result) => {
                if (err) {
                  if (mustDestroyConnection(err as DriverErrorLike)) destroy();
                  const failed = this.toStoreError(err);
                  // A node that left the primary component (1047) or went away: the next statement goes
                  // to the next node.
                  if (
                    isOutsidePrimaryComponent(err as DriverErrorLike) ||
                    failed.kind === 'outcome-unknown' ||
                    failed.kind === 'unreachable'
                  ) {
                    this.failover(pool);
                  }
                  rej(failed);
                  return;
                }
                if (Array.isArray(result)) {
                  res({ rows: result as Record<string, unknown>[], affectedRows: 0 });
                } else {
                  const { affectedRows, insertId } = result as { affectedRows: number; insertId?: number };
                  res({ rows: [], affectedRows, insertId });
                }
              });
            });
          const start = () =>
            work(query).then(
              (value) => finish(undefined, value),
              (err: unknown) => finish(err),
            );
          if (this.prepared.has(connection)) {
            start();
            return;
          }
          // The first statement on a new connection waits for its setup; a connection whose setup failed
          // is destroyed and never used (it could be in autocommit=0, on another time zone...).
          this.prepare(connection).then(
            () => {
              if (settled) return; // the deadline passed and destroyed it
              this.prepared.add(connection);
              start();
            },
            (setupError: unknown) => {
              if (!settled) connectFailed(setupError);
            },
          );
        });
      };
      obtain();
    });
  }

  /** The session setup of a new connection, then Galera's causal reads where the server is a Galera node. */
  private async prepare(connection: PoolConnection): Promise<void> {
    const statement = (text: string) =>
      new Promise<unknown>((resolve, reject) =>
        connection.query(text, (error, rows) => (error ? reject(error) : resolve(rows))),
      );
    await statement(this.sessionSetup);
    const probe = (await statement(WSREP_PROBE).catch((error: DriverErrorLike) => {
      if (error.errno === UNKNOWN_VARIABLE) return [];
      throw error;
    })) as { wsrep?: unknown }[];
    const galera = wsrepSessionSetup(probe[0]?.wsrep);
    if (galera) {
      // Only a node that is synced in the primary component may carry lease traffic: a node that just
      // came back answers, and reports itself Synced, before it can commit anything.
      const status = new Map(
        ((await statement(WSREP_STATUS)) as { Variable_name: string; Value: string }[]).map((row) => [
          row.Variable_name,
          String(row.Value),
        ]),
      );
      if (
        status.get('wsrep_ready') !== 'ON' ||
        status.get('wsrep_local_state') !== '4' ||
        status.get('wsrep_cluster_status') !== 'Primary'
      ) {
        throw new LeaseStoreError(
          'unreachable',
          `The Galera node is not synced in the primary component (wsrep_ready=${status.get('wsrep_ready')}, ` +
            `wsrep_local_state=${status.get('wsrep_local_state')}, wsrep_cluster_status=${status.get('wsrep_cluster_status')}).`,
          1047,
        );
      }
      await statement(galera);
      this.galera = true;
    }
  }

  /** Hands a connection back to the pool, and plans closing it if more than `maxIdle` are idle now. */
  private giveBack(connection: PoolConnection): void {
    this.idleSince.set(connection, performance.now());
    connection.release();
    if (this.idleSince.size > this.maxIdle && !this.trimTimer && !this.closed) {
      this.trimTimer = setTimeout(() => this.trimIdle(), this.idleTimeoutMs);
      this.trimTimer.unref();
    }
  }

  /**
   * Closes the connections idle for `idleTimeoutMs` beyond the `maxIdle` used last, and plans the next
   * trim while more than `maxIdle` are still idle.
   */
  private trimIdle(): void {
    this.trimTimer = undefined;
    if (this.closed) return;
    const now = performance.now();
    // Most recently used first: those are the ones kept.
    const idle = [...this.idleSince].sort((a, b) => b[1] - a[1]);
    let nextDue = Infinity;
    for (const [connection, since] of idle.slice(this.maxIdle)) {
      const due = since + this.idleTimeoutMs;
      if (due <= now) {
        this.idleSince.delete(connection);
        connection.destroy();
      } else {
        nextDue = Math.min(nextDue, due);
      }
    }
    if (nextDue !== Infinity) {
      this.trimTimer = setTimeout(() => this.trimIdle(), nextDue - now);
      this.trimTimer.unref();
    }
  }

  /** Ends the pool; statements in flight fail, none are accepted afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.trimTimer);
    this.idleSince.clear();
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }

  private toStoreError(error: unknown): LeaseStoreError {
    return toLeaseStoreError(error, this.secrets);
  }
}
