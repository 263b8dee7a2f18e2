import { createPool, type Pool, type PoolConnection, type PoolOptions } from 'mysql2';
import { LeaseStoreError } from './lease-store';
import { mustDestroyConnection, toLeaseStoreError, type DriverErrorLike } from './mysql-errors';

/**
 * Lease traffic never shares the application's pool: application load must not starve renewals. Two
 * connections when standbys poll; one when they have doorbells, which bring a connection each.
 */
const DEFAULT_LEASE_POOL_SIZE = 2;

// autocommit = 1: a server whose default is autocommit=0 (my.cnf, init_connect) would otherwise leave every
// lease statement in an open transaction that a dropped connection rolls back: two leaders of one term.
// Short lock waits: a lease statement that waits on a lock is better failed and retried inside its
// deadline. UTC session time zone so that nothing on these connections depends on the server's zone.
const SESSION_SETUP =
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

/** The result of one statement: rows for a SELECT, `affectedRows` for a write. */
export interface StatementResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly affectedRows: number;
}

/** Where the lease pool connects: a `mysql://` URI or mysql2 pool options. */
export type LeaseConnectionOptions = string | PoolOptions;

/** Returns the password of a connection option, so that it can be kept out of every message. */
function connectionSecrets(connection: LeaseConnectionOptions): string[] {
  if (typeof connection !== 'string') {
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
  private readonly pool: Pool;
  /** Passwords to keep out of every message. */
  readonly secrets: string[];
  /** The user's connection settings without pool settings, for single connections (doorbells). */
  readonly connectionOptions: PoolOptions;
  private closed = false;
  /** True once a connection found the server to be a Galera node (`wsrep_on` = 1). */
  galera = false;
  /** Connections whose session setup succeeded; any other connection runs it before its first statement. */
  private readonly prepared = new WeakSet<PoolConnection>();

  constructor(
    connection: LeaseConnectionOptions,
    connectTimeoutMs: number,
    poolSize: number = DEFAULT_LEASE_POOL_SIZE,
    /** The statement that prepares each new connection (replaceable so that tests can make it fail). */
    private readonly sessionSetup: string = SESSION_SETUP,
  ) {
    this.secrets = connectionSecrets(connection);
    const base: PoolOptions = typeof connection === 'string' ? { uri: connection } : { ...connection };
    for (const poolOnly of [
      'connectionLimit',
      'maxIdle',
      'idleTimeout',
      'waitForConnections',
      'queueLimit',
    ] as const) {
      delete base[poolOnly];
    }
    this.connectionOptions = Object.freeze({
      ...base,
      supportBigNumbers: true,
      dateStrings: true,
      timezone: 'Z',
    });
    this.pool = createPool({
      ...base,
      connectionLimit: poolSize,
      // One connection serves steady state; the second opens under concurrency and closes when idle.
      maxIdle: 1,
      idleTimeout: 10_000,
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
    this.pool.on('connection', (conn) => {
      conn.on('error', () => undefined);
    });
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
        if (conn && !destroyed) conn.release();
        if (error) reject(error);
        else resolve(value as T);
      };
      const timer = setTimeout(() => {
        destroy();
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
      let attemptsLeft = 2;
      const connectFailed = (error: unknown) => {
        const storeError = this.toStoreError(error);
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

      const obtain = () =>
        this.pool.getConnection((error, connection) => {
          if (settled) {
            // The deadline passed while waiting: give the connection straight back.
            connection?.release();
            return;
          }
          if (error) {
            connectFailed(error);
            return;
          }
          conn = connection;
          const query = (sql: string, params: readonly unknown[]) =>
            new Promise<StatementResult>((res, rej) => {
              sent = true;
              connection.query(sql, params as unknown[], (err, result) => {
                if (err) {
                  if (mustDestroyConnection(err as DriverErrorLike)) destroy();
                  rej(this.toStoreError(err));
                  return;
                }
                if (Array.isArray(result)) {
                  res({ rows: result as Record<string, unknown>[], affectedRows: 0 });
                } else {
                  res({ rows: [], affectedRows: (result as { affectedRows: number }).affectedRows });
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
      await statement(galera);
      this.galera = true;
    }
  }

  /** Ends the pool; statements in flight fail, none are accepted afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }

  private toStoreError(error: unknown): LeaseStoreError {
    return toLeaseStoreError(error, this.secrets);
  }
}
