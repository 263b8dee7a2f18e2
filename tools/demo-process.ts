// Real OS processes of the compiled demo app (dist/apps/demo/main.js), for the process tests and for
// `npm run demo` (scripts/demo.ts). No jest here: the demo runner imports it too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';

/** Lease timings handed to the demo through LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS. */
export interface DemoTiming {
  readonly leaseDurationMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly safetyMarginMs: number;
}

/** The repository root: the nearest directory above this file holding nest-cli.json. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'nest-cli.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No nest-cli.json above ${from}.`);
    dir = parent;
  }
  return dir;
}

/** Where `npm run build` puts the demo app. */
export const demoMainPath = (): string => join(repoRoot(), 'dist', 'apps', 'demo', 'main.js');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce(
    (newest, entry) => Math.max(newest, newestMtime(join(path, entry))),
    stat.mtimeMs,
  );
}

/**
 * Runs `npm run build` unless the library and the demo were built after their sources last changed: a
 * fresh clone builds once, repeated runs skip the compiler (it competes for CPU with timing-sensitive tests).
 */
export function buildIfStale(): void {
  const root = repoRoot();
  const outputs = [
    join(root, 'libs', 'leader-election', 'dist', 'index.js'),
    join(root, 'libs', 'leader-election', 'dist', 'health', 'index.js'),
    demoMainPath(),
  ];
  const inputs = [
    join(root, 'libs', 'leader-election', 'src'),
    join(root, 'libs', 'leader-election', 'package.json'),
    join(root, 'libs', 'leader-election', 'tsconfig.lib.json'),
    join(root, 'apps', 'demo'),
    join(root, 'tsconfig.json'),
  ];
  if (outputs.every(existsSync)) {
    const oldestOutput = Math.min(...outputs.map((path) => statSync(path).mtimeMs));
    if (Math.max(...inputs.map(newestMtime)) < oldestOutput) return;
  }
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
}

/** One line a demo process wrote, colours stripped. */
export interface OutputLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** `Date.now()` in this process when the line arrived. */
  readonly receivedAt: number;
}

/** One run of the demo's leader-only job, as its log line tells. */
export interface JobRun {
  readonly candidateId: string;
  /** The term it ran under (`NaN` when it logged none: that would be a bug). */
  readonly term: number;
  /** `Date.now()` in the demo process when the job ran. */
  readonly at: number;
}

/** The JSON of `GET /leader` (an `ElectionState`, dates as ISO strings). */
export interface LeaderJson {
  readonly election: string;
  readonly role: 'leader' | 'follower';
  readonly candidateId: string;
  readonly leaderId: string | null;
  readonly term: number;
  readonly lastContactAgoMs: number | null;
  readonly healthy: boolean;
  readonly lastError: string | null;
  readonly lastErrorKind: string | null;
  readonly status: string;
}

/** A fenced write held open by `FENCE_HOLD_MS` (lease row locked, nothing inserted yet), per its log line. */
export interface FencedWriteOpen {
  readonly run: number;
  readonly term: number;
  readonly holdMs: number;
  /** `Date.now()` in the demo process just before it began to hold (same host: comparable with ours). */
  readonly at: number;
  /** `Date.now()` here when the line arrived. */
  readonly receivedAt: number;
}

/** Parses a `fenced write open` line (`onLine` callbacks react to it as it arrives). */
export function fencedWriteOpen(line: OutputLine): FencedWriteOpen | undefined {
  const match = FENCE_OPEN.exec(line.text);
  return match
    ? {
        run: Number(match[1]),
        term: Number(match[2]),
        holdMs: Number(match[3]),
        at: Date.parse(match[4]),
        receivedAt: line.receivedAt,
      }
    : undefined;
}

/** One row of the demo's ledger, as `SELECT id, term, instance ... ORDER BY id` returns it. */
export interface LedgerRow {
  readonly id: number | string;
  readonly term: number | string;
  readonly instance: string;
}

/** What `checkLedger` found. */
export interface LedgerCheck {
  readonly rows: number;
  /** The distinct terms, in id (commit) order. */
  readonly terms: number[];
  /** Instance of each term. */
  readonly holders: Map<number, string>;
  /** Every violation: a lower term after a higher one, a term written by two instances. Empty when sound. */
  readonly problems: string[];
}

/**
 * Checks the fenced-writes guarantee on the demo's ledger, rows in id order: terms never decrease and each
 * term's rows come from one instance. The demo inserts as the last statement before its commit, so id
 * order (ids are taken at insert) is commit order.
 */
export function checkLedger(rows: readonly LedgerRow[]): LedgerCheck {
  const problems: string[] = [];
  const holders = new Map<number, string>();
  const terms: number[] = [];
  /** The row with the highest term so far. */
  let highest: { id: number; term: number } | undefined;
  for (const row of rows) {
    const id = Number(row.id);
    const term = Number(row.term);
    if (highest && term < highest.term) {
      problems.push(`row ${id} has term ${term} after row ${highest.id} with term ${highest.term}`);
    }
    const holder = holders.get(term);
    if (holder === undefined) {
      holders.set(term, row.instance);
      terms.push(term);
    } else if (holder !== row.instance) {
      problems.push(`term ${term} written by ${holder} and by ${row.instance} (row ${id})`);
    }
    if (!highest || term > highest.term) highest = { id, term };
  }
  return { rows: rows.length, terms, holders, problems };
}

/** An HTTP answer: status and raw body. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export interface DemoProcessOptions {
  /** A short label (`demo-1`); also the candidate id prefix. */
  readonly name: string;
  readonly mysqlUrl: string;
  readonly tableName: string;
  readonly timing?: DemoTiming;
  /** `LEDGER_TABLE`: the table the job's fenced writes go to (the demo's default: `demo_ledger`). */
  readonly ledgerTable?: string;
  /** `JOB_MS`: how often the leader-only job runs (the demo's default: 1000). */
  readonly jobIntervalMs?: number;
  /** `FENCE_HOLD_MS`: how long each fenced write stays open before its insert (the demo's default: 0). */
  readonly fenceHoldMs?: number;
  /** Extra environment. */
  readonly env?: Record<string, string>;
  /** Called for every output line as it arrives. */
  readonly onLine?: (line: OutputLine) => void;
  /** How long to wait for the ready line. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const READY = /Demo listening on (http:\/\/\S+) as (\S+);/;
const JOB = /leader-only job ran: run=\d+ candidate=(\S+) term=(\S+) at=(\S+)/;
const FENCE_OPEN = /fenced write open: run=(\d+) term=(\d+) holding=(\d+) ms at=(\S+)/;

/** A GET with its own connection (no keep-alive, so that a dying process never holds us up). */
export function httpGet(url: string, timeoutMs = 2_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** One demo app process. Start with `DemoProcess.start()`; always `kill()` or `stop()` it. */
export class DemoProcess {
  readonly lines: OutputLine[] = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Base URL, known once the ready line arrived. */
  url = '';
  /** Full candidate id (prefix plus random suffix), known once the ready line arrived. */
  candidateId = '';

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    onLine?: (line: OutputLine) => void,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      let pending = '';
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = { stream, text: pending.slice(0, newline).replace(ANSI, ''), receivedAt: Date.now() };
          pending = pending.slice(newline + 1);
          this.lines.push(line);
          onLine?.(line);
        }
      });
    }
  }

  /** Spawns `node dist/apps/demo/main.js` with PORT=0 and waits until it listens. */
  static async start(options: DemoProcessOptions): Promise<DemoProcess> {
    const main = demoMainPath();
    if (!existsSync(main)) throw new Error(`${main} does not exist: run "npm run build" first.`);
    const timing = options.timing;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      NO_COLOR: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      CANDIDATE_ID: options.name,
      MYSQL_URL: options.mysqlUrl,
      LEASE_TABLE: options.tableName,
      ...(timing && {
        LEASE_MS: String(timing.leaseDurationMs),
        RENEW_MS: String(timing.renewIntervalMs),
        POLL_MS: String(timing.pollIntervalMs),
        MARGIN_MS: String(timing.safetyMarginMs),
      }),
      ...(options.ledgerTable !== undefined && { LEDGER_TABLE: options.ledgerTable }),
      ...(options.jobIntervalMs !== undefined && { JOB_MS: String(options.jobIntervalMs) }),
      ...(options.fenceHoldMs !== undefined && { FENCE_HOLD_MS: String(options.fenceHoldMs) }),
      ...options.env,
    };
    // Its own process group, so that Ctrl-C in a terminal reaches the parent only and the parent stops the
    // children in order; the IPC channel makes the child exit when the parent dies (see main.ts).
    const child = spawn(process.execPath, [main], {
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    const demo = new DemoProcess(options.name, child, options.onLine);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (!demo.url) {
      const ready = demo.lines.map((line) => READY.exec(line.text)).find((match) => match !== null);
      if (ready) {
        demo.url = ready[1];
        demo.candidateId = ready[2];
        break;
      }
      if (demo.exit || Date.now() > deadline) {
        demo.kill();
        throw new Error(
          `Demo ${options.name} ${demo.exit ? `exited (${JSON.stringify(demo.exit)})` : 'did not listen in time'}:\n` +
            demo.output(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return demo;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** Everything it wrote so far, stdout and stderr interleaved as received. */
  output(): string {
    return this.lines.map((line) => line.text).join('\n');
  }

  /** The leader-only job runs it logged. */
  jobRuns(): JobRun[] {
    return this.lines.flatMap((line) => {
      const match = JOB.exec(line.text);
      return match ? [{ candidateId: match[1], term: Number(match[2]), at: Date.parse(match[3]) }] : [];
    });
  }

  /** `GET /leader`. */
  async leader(timeoutMs = 2_000): Promise<LeaderJson> {
    const answer = await httpGet(`${this.url}/leader`, timeoutMs);
    if (answer.status !== 200)
      throw new Error(`GET /leader on ${this.name}: ${answer.status} ${answer.body}`);
    return JSON.parse(answer.body) as LeaderJson;
  }

  /** `GET /health` (with `?requireLeader=1` when asked). */
  health(requireLeader = false, timeoutMs = 2_000): Promise<HttpAnswer> {
    return httpGet(`${this.url}/health${requireLeader ? '?requireLeader=1' : ''}`, timeoutMs);
  }

  /** Sends a signal; false when the process is already gone. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.exit) return false;
    try {
      return this.child.kill(signal);
    } catch {
      return false;
    }
  }

  /** SIGKILL, without waiting. */
  kill(): void {
    this.signal('SIGKILL');
  }

  /** Resolves with the exit, or rejects after `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Demo ${this.name} did not exit within ${timeoutMs} ms.`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Graceful stop: SIGCONT (in case it is paused) and SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exit) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    try {
      await this.waitForExit(graceMs);
    } catch {
      this.kill();
      await this.exited;
    }
  }
}
