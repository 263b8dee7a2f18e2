import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';

/** The server the tests use unless MYSQL_URL says otherwise. */
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

const INSTALL_HINT =
  'No MySQL/MariaDB server answers and none is installed to start a throwaway one. ' +
  'Install one with: sudo apt-get install -y mariadb-server (or set MYSQL_URL to a reachable server).';

/** True when a server answers at `url` within `timeoutMs`. */
export async function canConnect(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const conn = await createConnection({ uri: url, connectTimeout: timeoutMs });
    await conn.query('SELECT 1');
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function findBinary(names: string[]): string | undefined {
  const dirs = [
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
    ...(process.env.PATH ?? '').split(':'),
  ];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** A MariaDB/MySQL server of our own in a temp dir: for a test that needs the database to die. */
export interface ThrowawayServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway server from the installed `mariadbd`/`mysqld` on `requestedPort` (default: a free port);
 * throws with the exact install command when neither exists. Pass a port chosen in advance (see
 * `freePort()`) when a test must point a candidate at the server before it exists. `extraArgs` are
 * appended to the server's command line, for a server with other defaults (e.g. `--autocommit=0`).
 */
export async function startThrowawayServer(
  requestedPort?: number,
  extraArgs: readonly string[] = [],
  /** How long to wait for it to answer (a Galera node on a loaded machine may need more than 30 s). */
  startTimeoutMs = 30_000,
): Promise<ThrowawayServer> {
  const server = findBinary(['mariadbd', 'mysqld']);
  if (!server) throw new Error(INSTALL_HINT);
  const dataDir = mkdtempSync(join(tmpdir(), 'le-mysql-'));
  const installDb = findBinary(['mariadb-install-db', 'mysql_install_db']);
  if (installDb) {
    const init = spawnSync(
      installDb,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--user=root',
        '--skip-test-db',
      ],
      { encoding: 'utf8' },
    );
    if (init.status !== 0) throw new Error(`${installDb} failed: ${init.stderr || init.stdout}`);
  } else {
    const init = spawnSync(
      server,
      ['--no-defaults', '--initialize-insecure', `--datadir=${dataDir}`, '--user=root'],
      {
        encoding: 'utf8',
      },
    );
    if (init.status !== 0) throw new Error(`${server} --initialize-insecure failed: ${init.stderr}`);
  }
  const port = requestedPort ?? (await freePort());
  const child = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${join(dataDir, 'sock')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-log-bin',
      `--pid-file=${join(dataDir, 'pid')}`,
      ...extraArgs,
    ],
    { stdio: 'ignore', detached: false },
  );
  const url = `mysql://root@127.0.0.1:${port}/test`;
  const rootUrl = `mysql://root@127.0.0.1:${port}/`;
  const deadline = Date.now() + startTimeoutMs;
  while (!(await canConnect(rootUrl, 500))) {
    if (child.exitCode !== null) throw new Error(`${server} exited with code ${child.exitCode} at start.`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${server} did not answer on port ${port} within ${startTimeoutMs / 1000} s.`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const conn = await createConnection({ uri: rootUrl });
  await conn.query('CREATE DATABASE IF NOT EXISTS test');
  await conn.end();
  return {
    url,
    port,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
