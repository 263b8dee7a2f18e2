// The chaos harness's parts that touch the real world: the fault proxy (against the shared MariaDB, which it
// only connects to) and `npm run chaos` stopping everything it started on Ctrl-C (its own throwaway server,
// or its own Galera cluster).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { startFaultProxy, type FaultProxy } from '../tools/fault-proxy';
import { DEFAULT_MYSQL_URL } from '../tools/mysql-server';

const url = process.env.MYSQL_URL ?? DEFAULT_MYSQL_URL;
const target = { host: new URL(url).hostname, port: Number(new URL(url).port || 3306) };

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('fault proxy (real MariaDB)', () => {
  let proxy: FaultProxy;
  const open: Connection[] = [];
  const connect = async () => {
    const conn = await createConnection({ uri: proxy.via(url), connectTimeout: 2_000 });
    conn.on('error', () => undefined);
    open.push(conn);
    return conn;
  };

  beforeEach(async () => {
    proxy = await startFaultProxy(target);
  });

  afterEach(async () => {
    for (const conn of open.splice(0)) conn.destroy();
    await proxy.close();
  });

  it('forwards queries both ways in pass mode', async () => {
    const conn = await connect();
    const [rows] = await conn.query('SELECT 41 + 1 AS answer');
    expect(rows).toEqual([{ answer: 42 }]);
  });

  it('holds every chunk for the latency, each way, and stops holding when back to pass', async () => {
    const conn = await connect();
    proxy.setMode({ kind: 'latency', ms: 150 });
    let started = performance.now();
    await conn.query('SELECT 1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 150 - 5);
    proxy.setMode({ kind: 'pass' });
    started = performance.now();
    await conn.query('SELECT 1');
    expect(performance.now() - started).toBeLessThan(150);
  });

  it('answers nothing in blackhole mode, then drops those connections and passes new ones', async () => {
    const conn = await connect();
    proxy.setMode({ kind: 'blackhole' });
    const answer = conn.query('SELECT 1').then(
      () => 'answered',
      () => 'failed',
    );
    const outcome = await Promise.race([
      answer,
      new Promise((resolve) => setTimeout(() => resolve('silent'), 700)),
    ]);
    expect(outcome).toBe('silent');
    proxy.setMode({ kind: 'pass' });
    expect(await answer).toBe('failed');
    const fresh = await connect();
    const [rows] = await fresh.query('SELECT 2 AS two');
    expect(rows).toEqual([{ two: 2 }]);
  });

  it('resets open connections: the client sees the connection lost, a new one works', async () => {
    const conn = await connect();
    await conn.query('SELECT 1');
    proxy.reset();
    await expect(conn.query('SELECT 1')).rejects.toThrow();
    const fresh = await connect();
    await expect(fresh.query('SELECT 1')).resolves.toBeDefined();
  });
});

describe('npm run chaos', () => {
  it('on Ctrl-C (SIGINT) heals, stops every process it started and still writes its report', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'chaos-test-')), 'run');
    const root = join(__dirname, '..');
    const harness = spawn(
      process.execPath,
      [
        '-r',
        join(root, 'tools/register-ts.js'),
        join(root, 'tools/chaos/run.ts'),
        '--faults=1000',
        `--out=${out}`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    harness.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    harness.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => harness.once('exit', (code) => resolve(code)));
    // Interrupt in the middle of the fault schedule: after the first faults were injected.
    const deadline = Date.now() + 120_000;
    while (!/chaos: 10 faults injected/.test(output) && Date.now() < deadline && harness.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(output).toMatch(/chaos: 10 faults injected/);
    harness.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toMatch(/SIGINT: healing and stopping everything started/);
    const summary = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as {
      run: { interrupted: boolean; pids: number[] };
      checks: { ok: boolean }[];
    };
    expect(summary.run.interrupted).toBe(true);
    // Candidates (at least the first three) and the throwaway server.
    expect(summary.run.pids.length).toBeGreaterThanOrEqual(4);
    expect(summary.run.pids.filter(alive)).toEqual([]);
    expect(existsSync(`${out}.md`)).toBe(true);
    expect(summary.checks.every((check) => check.ok)).toBe(true);
  }, 180_000);

  it('--galera: a second Ctrl-C while the cluster is still starting kills every node and removes its temp dir', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'chaos-test-')), 'run');
    const root = join(__dirname, '..');
    const harness = spawn(
      process.execPath,
      [
        '-r',
        join(root, 'tools/register-ts.js'),
        join(root, 'tools/chaos/run.ts'),
        '--galera',
        `--out=${out}`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    harness.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    harness.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => harness.once('exit', (code) => resolve(code)));
    /** The harness's mariadbd children (pid and data directory), from /proc. */
    const nodes = () =>
      readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .flatMap((entry) => {
          try {
            const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
            const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
            const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
            const dataDir = args.find((arg) => arg.startsWith('--datadir='))?.slice('--datadir='.length);
            return ppid === harness.pid && dataDir ? [{ pid: Number(entry), dataDir }] : [];
          } catch {
            return []; // gone meanwhile
          }
        });
    // Interrupt while the cluster starts: once node 2 is up (node 1 bootstrapped, node 2 joining).
    let seen: { pid: number; dataDir: string }[] = [];
    const deadline = Date.now() + 90_000;
    while (seen.length < 2 && Date.now() < deadline && harness.exitCode === null) {
      seen = nodes();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen.length).toBeGreaterThanOrEqual(2);
    harness.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 200));
    harness.kill('SIGINT');
    expect(await exited).toBe(130);
    // Node processes are reaped by init once the harness is gone: give them a moment.
    const gone = Date.now() + 5_000;
    while (seen.some((node) => alive(node.pid)) && Date.now() < gone) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen.filter((node) => alive(node.pid))).toEqual([]);
    // The cluster's temp dir (the parent of every node's data directory) is gone.
    expect(existsSync(join(seen[0].dataDir, '..'))).toBe(false);
  }, 120_000);
});
