import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { freePort } from './mysql-server';

/**
 * A 3-node MariaDB Galera cluster on 127.0.0.1 in a temp dir, for tests and the chaos run: node 1 bootstraps
 * the cluster (`--wsrep-new-cluster`), nodes 2 and 3 join it one after the other (state transfer by rsync).
 * Every node has its own SQL, group-communication, IST and SST ports. `stop()` ends every node and
 * removes the temp dir.
 */

const PROVIDER = '/usr/lib/galera/libgalera_smm.so';
const SERVER = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].find((path) => existsSync(path));
const INSTALL_DB = ['/usr/bin/mariadb-install-db', '/usr/sbin/mariadb-install-db'].find((path) =>
  existsSync(path),
);
const INSTALL_HINT =
  'A Galera cluster needs mariadbd, galera-4 and rsync: sudo apt-get install -y mariadb-server galera-4 rsync';

/** One node of the cluster. */
export interface GaleraNode {
  /** 1-based, as in "node 1". */
  readonly index: number;
  readonly port: number;
  /** `mysql://root@127.0.0.1:<port>/test` */
  readonly url: string;
  /** The server process, or undefined while the node is down. */
  readonly process: ChildProcess | undefined;
  /** True while the process runs (paused included). */
  running(): boolean;
  /** SIGKILL: the node vanishes without a word to the others. */
  kill(): Promise<void>;
  /** SIGSTOP: the node freezes (its sockets stay open). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /**
   * Starts a killed node again (SIGKILL first when it runs); it rejoins the cluster (state transfer) and
   * resolves when it is synced. `env` replaces the node's extra environment from then on (e.g. libfaketime
   * for a skewed clock; `{}` for the real clock); omitted, the node keeps the one it had.
   */
  restart(env?: Record<string, string>): Promise<void>;
}

export interface GaleraCluster {
  readonly nodes: readonly GaleraNode[];
  /** The SQL URLs of the nodes, node 1 first. */
  readonly urls: readonly string[];
  /** Resolves when every running, unpaused node reports Synced in a primary component of `size` nodes. */
  waitSynced(size?: number, timeoutMs?: number): Promise<void>;
  /** Ends every node (SIGKILL: the data is thrown away) and removes the temp dir (kept with LE_GALERA_KEEP=1). */
  stop(): Promise<void>;
  /** Every server process id started (one per node start). */
  readonly pids: readonly number[];
}

/** Per cluster not yet stopped: SIGKILL to its nodes and removal of its temp dir, synchronous. */
const unstopped = new Set<() => void>();

/**
 * SIGKILLs every node of every cluster this process started and did not stop, and removes their temp dirs
 * (synchronous: for an `exit` handler, also while a cluster is still starting).
 */
export function killGaleraClustersNow(): void {
  for (const kill of [...unstopped]) kill();
}

export interface GaleraClusterOptions {
  /** Number of nodes (default 3). */
  readonly size?: number;
  /** Extra server arguments for every node. */
  readonly extraArgs?: readonly string[];
  /** Extra provider options for every node, `;`-separated (e.g. `evs.suspect_timeout=PT2S`). */
  readonly providerOptions?: string;
  /** Extra environment per node, by 0-based index (e.g. libfaketime for a node with a skewed clock). */
  readonly nodeEnv?: Readonly<Record<number, Record<string, string>>>;
}

/** True when this machine can run a Galera cluster (mariadbd, galera-4, rsync). */
export function galeraAvailable(): boolean {
  return Boolean(SERVER && INSTALL_DB && existsSync(PROVIDER) && findRsync());
}

function findRsync(): string | undefined {
  return ['/usr/bin/rsync', '/bin/rsync', '/usr/local/bin/rsync'].find((path) => existsSync(path));
}

/** uid and gid of `nobody`, whom rsync's daemon becomes when started by root. */
function nobodyIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  return { uid: Number.isInteger(uid) ? uid : 65534, gid: Number.isInteger(gid) ? gid : 65534 };
}

interface NodePorts {
  sql: number;
  gcomm: number;
  ist: number;
  sst: number;
}

/** SHOW STATUS values of one node, or undefined when it does not answer within `timeoutMs`. */
export async function wsrepStatus(port: number, timeoutMs = 1_000): Promise<Map<string, string> | undefined> {
  let conn: Connection | undefined;
  try {
    conn = await createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: timeoutMs });
    const timer = setTimeout(() => conn?.destroy(), timeoutMs);
    const [rows] = await conn.query("SHOW STATUS LIKE 'wsrep_%'");
    clearTimeout(timer);
    return new Map(
      (rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, r.Value]),
    );
  } catch {
    return undefined;
  } finally {
    conn?.destroy();
  }
}

/** True when the node is Synced (4), ready, and in a primary component of `size` nodes (any when omitted). */
export async function isSynced(port: number, size?: number): Promise<boolean> {
  const status = await wsrepStatus(port);
  return (
    status !== undefined &&
    status.get('wsrep_local_state') === '4' &&
    status.get('wsrep_ready') === 'ON' &&
    status.get('wsrep_cluster_status') === 'Primary' &&
    (size === undefined || status.get('wsrep_cluster_size') === String(size))
  );
}

/**
 * Resolves once every node (by SQL port) has applied what the cluster committed so far: a causal read
 * (`wsrep_sync_wait = 1`) on each. Call it after DDL on one node before connecting to another node's copy.
 */
export async function waitApplied(ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    const conn = await createConnection({ host: '127.0.0.1', port, user: 'root' });
    try {
      await conn.query('SET SESSION wsrep_sync_wait = 1');
      await conn.query('SELECT COUNT(*) FROM information_schema.SCHEMATA');
    } finally {
      await conn.end();
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Brings a cluster up (about 15-20 s for 3 nodes); tries once more on fresh ports when a node fails to start
 * (a port taken meanwhile by another process); throws, having cleaned up, when the second try fails too.
 */
export async function startGaleraCluster(options: GaleraClusterOptions = {}): Promise<GaleraCluster> {
  try {
    return await startOnce(options);
  } catch (first) {
    try {
      return await startOnce(options);
    } catch (second) {
      throw new Error(
        `The Galera cluster did not start twice.\nFirst: ${String(first)}\nSecond: ${String(second)}`,
        { cause: second },
      );
    }
  }
}

async function startOnce(options: GaleraClusterOptions): Promise<GaleraCluster> {
  if (!galeraAvailable() || !SERVER || !INSTALL_DB) throw new Error(INSTALL_HINT);
  const server = SERVER;
  const size = options.size ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'le-galera-'));
  const ports: NodePorts[] = [];
  const taken = new Set<number>();
  const port = async () => {
    for (;;) {
      const candidate = await freePort();
      if (!taken.has(candidate)) {
        taken.add(candidate);
        return candidate;
      }
    }
  };
  for (let i = 0; i < size; i++) {
    ports.push({ sql: await port(), gcomm: await port(), ist: await port(), sst: await port() });
  }
  const clusterAddress = `gcomm://${ports.map((p) => `127.0.0.1:${p.gcomm}`).join(',')}`;

  // One installed datadir copied to every node: joiners get the donor's state by SST anyway.

  // rsync's SST daemon, started by a joiner running as root, writes as `nobody`: the joiner's datadir
  // (empty: everything comes from the donor) must be reachable and writable for it.
  chmodSync(root, 0o755);
  const nobody = nobodyIds();
  const joinerDataDir = (dataDir: string) => {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o777);
    // It also sets the donor's permissions on the directory itself, which only its owner may do.
    if (process.getuid?.() === 0) chownSync(dataDir, nobody.uid, nobody.gid);
  };

  const processes: (ChildProcess | undefined)[] = new Array(size).fill(undefined);
  const pids: number[] = [];
  const nodeEnv: Record<number, Record<string, string>> = { ...(options.nodeEnv ?? {}) };
  const killNow = () => {
    for (const child of processes) {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
    unstopped.delete(killNow);
    if (!process.env.LE_GALERA_KEEP) rmSync(root, { recursive: true, force: true });
  };
  unstopped.add(killNow);
  const launch = (index: number, bootstrap: boolean) => {
    const p = ports[index];
    const dataDir = join(root, `node${index + 1}`);
    const args = [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${join(dataDir, 'sock')}`,
      `--port=${p.sql}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      `--pid-file=${join(dataDir, 'pid')}`,
      `--log-error=${join(root, `node${index + 1}.err`)}`,
      '--skip-log-bin',
      '--wsrep-on=ON',
      `--wsrep-provider=${PROVIDER}`,
      `--wsrep-cluster-address=${clusterAddress}`,
      '--wsrep-cluster-name=le-test',
      `--wsrep-node-name=node${index + 1}`,
      `--wsrep-node-address=127.0.0.1:${p.gcomm}`,
      `--wsrep-node-incoming-address=127.0.0.1:${p.sql}`,
      `--wsrep-sst-receive-address=127.0.0.1:${p.sst}`,
      '--wsrep-sst-method=rsync',
      `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${p.gcomm};ist.recv_addr=127.0.0.1:${p.ist};gcache.size=64M${options.providerOptions ? `;${options.providerOptions}` : ''}`,
      '--binlog-format=ROW',
      '--innodb-autoinc-lock-mode=2',
      '--default-storage-engine=InnoDB',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=32M',
      ...(bootstrap ? ['--wsrep-new-cluster'] : []),
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(server, args, {
      stdio: 'ignore',
      env: { ...process.env, ...(nodeEnv[index] ?? {}) },
    });
    processes[index] = child;
    if (child.pid) pids.push(child.pid);
    return child;
  };

  const logTail = (index: number) => {
    try {
      const lines = readFileSync(join(root, `node${index + 1}.err`), 'utf8').split('\n');
      return [...lines.filter((line) => line.includes('[ERROR]')).slice(0, 10), ...lines.slice(-5)].join(
        '\n',
      );
    } catch {
      return '(no error log)';
    }
  };
  const waitNode = async (index: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const child = processes[index];
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Galera node ${index + 1} exited at start:\n${logTail(index)}`);
      }
      if (await isSynced(ports[index].sql)) return;
      await sleep(200);
    }
    throw new Error(`Galera node ${index + 1} did not sync within ${timeoutMs} ms:\n${logTail(index)}`);
  };

  const alive = (index: number) => {
    const child = processes[index];
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const killNode = async (index: number) => {
    const child = processes[index];
    if (!child || !alive(index)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  };

  const stop = async () => {
    await Promise.all(processes.map((_, index) => killNode(index)));
    unstopped.delete(killNow);
    if (!process.env.LE_GALERA_KEEP) rmSync(root, { recursive: true, force: true });
  };

  try {
    const template = join(root, 'template');
    mkdirSync(template);
    const init = spawnSync(
      INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${template}`,
        '--auth-root-authentication-method=normal',
        '--user=root',
        '--skip-test-db',
      ],
      { encoding: 'utf8' },
    );
    if (init.status !== 0) throw new Error(`${INSTALL_DB} failed: ${init.stderr || init.stdout}`);
    for (let i = 0; i < size; i++) {
      const dataDir = join(root, `node${i + 1}`);
      if (i === 0) cpSync(template, dataDir, { recursive: true });
      else joinerDataDir(dataDir);
      launch(i, i === 0);
      await waitNode(i, 60_000);
    }
    const conn = await createConnection({ host: '127.0.0.1', port: ports[0].sql, user: 'root' });
    await conn.query('CREATE DATABASE IF NOT EXISTS test');
    await conn.end();
    await waitApplied(ports.map((p) => p.sql));
  } catch (error) {
    await stop();
    throw error;
  }

  const nodes: GaleraNode[] = ports.map((p, index) => ({
    index: index + 1,
    port: p.sql,
    url: `mysql://root@127.0.0.1:${p.sql}/test`,
    get process() {
      return processes[index];
    },
    running: () => alive(index),
    kill: () => killNode(index),
    pause: () => {
      if (alive(index)) processes[index]?.kill('SIGSTOP');
    },
    resume: () => {
      if (alive(index)) processes[index]?.kill('SIGCONT');
    },
    restart: async (env?: Record<string, string>) => {
      await killNode(index);
      if (env) nodeEnv[index] = env;
      // Forget the local state: the node rejoins by a full state transfer from a synced donor.
      joinerDataDir(join(root, `node${index + 1}`));
      launch(index, false);
      await waitNode(index, 60_000);
    },
  }));

  return {
    nodes,
    urls: nodes.map((node) => node.url),
    async waitSynced(expectedSize = nodes.filter((node) => node.running()).length, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          nodes.filter((node) => node.running()).map((node) => isSynced(node.port, expectedSize)),
        );
        if (states.every(Boolean)) return;
        if (Date.now() > deadline) throw new Error(`The Galera cluster did not sync within ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    stop,
    pids,
  };
}

/** `node -r ./tools/register-ts.js tools/galera-cluster.ts up`: starts a cluster, prints its URLs, runs until Ctrl-C. */
async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  if (command !== 'up') {
    console.error('usage: npm run galera [-- up]   (Ctrl-C brings it down and removes its files)');
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const cluster = await startGaleraCluster();
  console.log(`Galera cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s:`);
  for (const node of cluster.nodes) console.log(`  node ${node.index}: ${node.url}`);
  console.log('Ctrl-C stops it and removes its temp dir.');
  const down = () => {
    void cluster.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', down);
  process.once('SIGTERM', down);
  setInterval(() => undefined, 60_000);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
