import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { startThrowawayServer, type ThrowawayServer } from '../../tools/mysql-server';
import { log, now, sleep } from './util';

/** Counters of SHOW GLOBAL STATUS the bench reports. */
export const GLOBAL_COUNTERS = ['Questions', 'Com_select', 'Com_update', 'Com_insert'] as const;
export type GlobalCounter = (typeof GLOBAL_COUNTERS)[number];

/** Statement counts at one instant: per MySQL user (USER_STATISTICS) and server-wide. */
export interface StatSnapshot {
  readonly t: number;
  /** SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS per user. */
  readonly users: Readonly<Record<string, number>>;
  /** SELECT_COMMANDS per user. */
  readonly selects: Readonly<Record<string, number>>;
  readonly global: Readonly<Record<GlobalCounter, number>>;
}

/** The lease row as the database sees it; times are DATETIME(6) strings on the DB clock (UTC). */
export interface LeaseRowView {
  readonly holder: string;
  readonly term: number;
  readonly expiresAt: string;
  readonly acquiredAt: string;
  readonly valid: boolean;
}

const started = new Set<BenchServer>();

/** SIGKILLs every throwaway server still running and removes its data (synchronous, for `exit`). */
export function killAllServers(): void {
  for (const server of started) server.forceStop();
}

/**
 * A private MariaDB for the bench (tools/mysql-server.ts), so that nothing else pollutes the
 * status counters. `userstat` is on: every candidate connects as its own user, and
 * information_schema.USER_STATISTICS splits statement counts per candidate.
 */
export class BenchServer {
  private userSeq = 0;
  private stopped = false;
  private readonly watchdog: ChildProcess;

  private constructor(
    readonly label: string,
    private readonly server: ThrowawayServer,
    private readonly admin: Connection,
    readonly version: string,
  ) {
    this.watchdog = startWatchdog(server);
  }

  /** `extraArgs`: more server options, e.g. `--max-connections=` for runs of many processes. */
  static async start(label: string, extraArgs: readonly string[] = []): Promise<BenchServer> {
    const server = await startThrowawayServer(undefined, extraArgs);
    let admin: Connection | undefined;
    try {
      admin = await createConnection({ uri: server.url, dateStrings: true, supportBigNumbers: true });
      await admin.query('SET GLOBAL userstat = 1');
      const [rows] = await admin.query<RowDataPacket[]>('SELECT VERSION() AS version');
      const bench = new BenchServer(label, server, admin, String(rows[0].version));
      started.add(bench);
      log(`server ${label}: MariaDB ${bench.version} on port ${server.port}`);
      return bench;
    } catch (error) {
      await admin?.end().catch(() => undefined);
      await server.stop();
      throw error;
    }
  }

  get port(): number {
    return this.server.port;
  }

  /** The root URL (the bench's own monitoring user). */
  get url(): string {
    return this.server.url;
  }

  /** Creates a fresh user with every privilege on the `test` database; returns its URL. */
  async createUser(prefix = 'c'): Promise<{ user: string; url: string }> {
    const user = `${prefix}${++this.userSeq}`;
    for (const host of ['%', 'localhost', '127.0.0.1']) {
      await this.admin.query(`CREATE USER '${user}'@'${host}' IDENTIFIED BY 'bench'`);
      await this.admin.query(`GRANT ALL ON test.* TO '${user}'@'${host}'`);
    }
    return { user, url: `mysql://${user}:bench@127.0.0.1:${this.server.port}/test` };
  }

  async snapshot(): Promise<StatSnapshot> {
    const t = now();
    const [status] = await this.admin.query<RowDataPacket[]>(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${GLOBAL_COUNTERS.map((name) => `'${name}'`).join(', ')})`,
    );
    const [stats] = await this.admin.query<RowDataPacket[]>(
      'SELECT USER, SELECT_COMMANDS AS selects, SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS AS statements ' +
        'FROM information_schema.USER_STATISTICS',
    );
    const global = Object.fromEntries(GLOBAL_COUNTERS.map((name) => [name, 0])) as Record<
      GlobalCounter,
      number
    >;
    for (const row of status) global[row.Variable_name as GlobalCounter] = Number(row.Value);
    const users: Record<string, number> = {};
    const selects: Record<string, number> = {};
    for (const row of stats) {
      users[String(row.USER)] = Number(row.statements);
      selects[String(row.USER)] = Number(row.selects);
    }
    return { t, users, selects, global };
  }

  /** The lease row `name` of `table`, or undefined. */
  async row(table: string, name: string): Promise<LeaseRowView | undefined> {
    const [rows] = await this.admin.query<RowDataPacket[]>(
      `SELECT holder, term, expires_at, acquired_at, expires_at > UTC_TIMESTAMP(6) AS valid
       FROM \`${table}\` WHERE name = ?`,
      [name],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      holder: String(row.holder),
      term: Number(row.term),
      expiresAt: String(row.expires_at),
      acquiredAt: String(row.acquired_at),
      valid: Number(row.valid) === 1,
    };
  }

  /** `to - from` in microseconds, computed by the database on its own DATETIME(6) values. */
  async diffUs(from: string, to: string): Promise<number> {
    const [rows] = await this.admin.query<RowDataPacket[]>(
      'SELECT TIMESTAMPDIFF(MICROSECOND, CAST(? AS DATETIME(6)), CAST(? AS DATETIME(6))) AS us',
      [from, to],
    );
    return Number(rows[0].us);
  }

  /** Connections per user, and how many of them wait in GET_LOCK (a doorbell). */
  async connections(): Promise<Map<string, { connections: number; lockWaits: number }>> {
    const [rows] = await this.admin.query<RowDataPacket[]>(
      "SELECT USER, COUNT(*) AS connections, SUM(IFNULL(INFO, '') LIKE '%GET_LOCK%') AS lock_waits " +
        'FROM information_schema.PROCESSLIST GROUP BY USER',
    );
    return new Map(
      rows.map((row) => [
        String(row.USER),
        { connections: Number(row.connections), lockWaits: Number(row.lock_waits) },
      ]),
    );
  }

  /**
   * Round trips of a primary-key SELECT and of an autocommit single-row UPDATE (one redo-log flush) on this
   * server, median of `samples`: the floor under every lease statement and hence under a handover.
   */
  async latency(samples = 40): Promise<{ selectMs: number; updateMs: number }> {
    await this.admin.query(
      'CREATE TABLE IF NOT EXISTS bench_latency (id INT PRIMARY KEY, v INT) ENGINE=InnoDB',
    );
    await this.admin.query('INSERT IGNORE INTO bench_latency VALUES (1, 0)');
    const time = async (statement: string): Promise<number> => {
      const durations: number[] = [];
      for (let i = 0; i < samples; i++) {
        const start = now();
        await this.admin.query(statement);
        durations.push(now() - start);
      }
      durations.sort((a, b) => a - b);
      return durations[Math.floor(durations.length / 2)];
    };
    return {
      selectMs: await time('SELECT v FROM bench_latency WHERE id = 1'),
      updateMs: await time('UPDATE bench_latency SET v = v + 1 WHERE id = 1'),
    };
  }

  /** A separate connection (for monitors that must not queue behind the bench's own queries). */
  connect(): Promise<Connection> {
    return createConnection({ uri: this.server.url, dateStrings: true, supportBigNumbers: true });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.admin.end().catch(() => undefined);
    await Promise.race([this.server.stop(), sleep(15_000).catch(() => undefined)]);
    this.forceStop();
    started.delete(this);
  }

  forceStop(): void {
    if (this.watchdog.exitCode === null && this.watchdog.signalCode === null) this.watchdog.kill('SIGKILL');
    const child = this.server.process;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // The data directory is only known from the server's arguments.
    const dataDir = dataDirOf(this.server);
    if (dataDir && dataDir.includes('le-mysql-')) rmSync(dataDir, { recursive: true, force: true });
  }
}

function dataDirOf(server: ThrowawayServer): string | undefined {
  return server.process.spawnargs.find((arg) => arg.startsWith('--datadir='))?.slice('--datadir='.length);
}

/**
 * A detached shell that outlives a bench killed with SIGKILL (no exit handler runs then): once the bench's
 * process is gone it kills this server, if that pid still runs this server's data directory, and removes
 * the directory. The bench kills the watchdog itself when it stops the server.
 */
function startWatchdog(server: ThrowawayServer): ChildProcess {
  const dataDir = dataDirOf(server) ?? '';
  const pid = server.process.pid ?? 0;
  const script = [
    'while kill -0 "$BENCH" 2>/dev/null; do sleep 1; done',
    'if grep -q "$DATADIR" "/proc/$SERVER/cmdline" 2>/dev/null; then kill -9 "$SERVER"; sleep 1; fi',
    'case "$DATADIR" in */le-mysql-*) rm -rf "$DATADIR" ;; esac',
  ].join('\n');
  const watchdog = spawn('sh', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    env: { BENCH: String(process.pid), SERVER: String(pid), DATADIR: dataDir, PATH: process.env.PATH ?? '' },
  });
  watchdog.unref();
  return watchdog;
}

/**
 * Polls lease rows of one table on its own connection and keeps every change: which holder each term
 * had as the database saw it, for the overlap check.
 */
export class RowMonitor {
  readonly observations: { t: number; name: string; holder: string; term: number; valid: boolean }[] = [];
  private readonly last = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | undefined;
  /** Set when polling failed; reported by `stop()`. */
  private failure: unknown;

  constructor(
    private readonly server: BenchServer,
    readonly table: string,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run().catch((error: unknown) => {
      this.failure = error;
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    if (this.failure) throw this.failure;
  }

  private async run(): Promise<void> {
    let conn: Connection | undefined;
    try {
      conn = await this.server.connect();
      while (this.running) {
        try {
          const [rows] = await conn.query<RowDataPacket[]>(
            `SELECT name, holder, term, expires_at > UTC_TIMESTAMP(6) AS valid FROM \`${this.table}\``,
          );
          const t = now();
          for (const row of rows) {
            const seen = { name: String(row.name), holder: String(row.holder), term: Number(row.term) };
            const valid = Number(row.valid) === 1;
            const key = `${seen.holder}|${seen.term}|${valid}`;
            if (this.last.get(seen.name) === key) continue;
            this.last.set(seen.name, key);
            this.observations.push({ t, ...seen, valid });
          }
        } catch (error) {
          // The table may not exist yet (candidates create it at start).
          if ((error as { errno?: number }).errno !== 1146) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, this.everyMs));
      }
    } finally {
      await conn?.end().catch(() => undefined);
    }
  }
}
