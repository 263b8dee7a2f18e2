// `npm run chaos`: N candidate processes against a throwaway MariaDB, each through its own fault proxy,
// and a seeded schedule of faults (SIGKILL, SIGTERM, SIGSTOP/SIGCONT, proxy latency / blackhole / reset on
// the leader's or a follower's path, a crash and restart of the throwaway server, a restart under a skewed
// wall clock). Each fault is healed before the next; then the checkers (tools/chaos/checkers.ts) judge the
// recorded history. Writes <out>.json and <out>.md; the last line says PASS or FAIL.
//
//   npm run chaos -- [--faults=100] [--duration=600] [--seed=1] [--candidates=3]
//                    [--mix=kill=2,term=1,pause=2,latency=1,blackhole=2,reset=1,server=1,skew=1]
//                    [--lease=2000 --renew=400 --poll=400 --margin=400] [--out=path/prefix]
//
// Never touches the shared server: the database is a throwaway one of its own (tools/mysql-server.ts).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import {
  checkAll,
  livenessToleranceMs,
  type ChaosHistory,
  type ChaosTiming,
  type FaultRecord,
  type LedgerRow,
  type RunRow,
} from './checkers';
import { CandidateProcess, killAllCandidates, now } from './candidates';
import { renderReport, summarize } from './report';
import { startChaosServer, type ChaosServer } from './server';

export const FAULT_KINDS = [
  'kill',
  'term',
  'pause',
  'latency',
  'blackhole',
  'reset',
  'server',
  'skew',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
const DEFAULT_MIX = 'kill=2,term=1,pause=2,latency=1,blackhole=2,reset=1,server=1,skew=1';
const LEASE_TABLE = 'chaos_lease';
const LEDGER_TABLE = 'chaos_ledger';
/** Every execution of the candidates' run-once job: no unique key, so a double run shows. */
const RUNS_TABLE = 'chaos_once_runs';

interface Options {
  readonly faults: number;
  readonly durationS: number;
  readonly seed: number;
  readonly candidates: number;
  readonly mix: readonly { kind: FaultKind; weight: number }[];
  readonly timing: ChaosTiming;
  readonly out: string;
}

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

export function parseMix(text: string): { kind: FaultKind; weight: number }[] {
  const mix = text.split(',').map((part) => {
    const [kind, weight = '1'] = part.split('=');
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      usage(`--mix: unknown fault kind "${kind}"; kinds: ${FAULT_KINDS.join(', ')}`);
    }
    const value = Number(weight);
    if (!Number.isFinite(value) || value < 0) usage(`--mix: weight of ${kind} must be a number >= 0`);
    return { kind: kind as FaultKind, weight: value };
  });
  if (!mix.some((entry) => entry.weight > 0)) usage('--mix: at least one kind needs a weight above 0');
  return mix;
}

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z]+)=(.*)$/.exec(arg);
    if (!match) usage(`unknown argument "${arg}" (use --name=value)`);
    values.set(match[1], match[2]);
  }
  const known = [
    'faults',
    'duration',
    'seed',
    'candidates',
    'mix',
    'lease',
    'renew',
    'poll',
    'margin',
    'out',
  ];
  for (const key of values.keys()) if (!known.includes(key)) usage(`unknown option --${key}`);
  const num = (key: string, fallback: number, min: number) => {
    const value = Number(values.get(key) ?? fallback);
    if (!Number.isFinite(value) || value < min) usage(`--${key} must be a number >= ${min}`);
    return value;
  };
  const leaseMs = num('lease', 2_000, 1);
  const renewMs = num('renew', 400, 1);
  const pollMs = num('poll', 400, 1);
  const marginMs = num('margin', 400, 1);
  if (leaseMs <= marginMs || renewMs >= leaseMs - marginMs) {
    usage('timing: need --lease > --margin and --renew < --lease - --margin');
  }
  return {
    faults: num('faults', 100, 1),
    durationS: num('duration', 600, 1),
    seed: num('seed', Math.floor(Math.random() * 2 ** 31), 0),
    candidates: num('candidates', 3, 2),
    mix: parseMix(values.get('mix') ?? DEFAULT_MIX),
    // The library's default operation deadline: min(2000, L - M).
    timing: { leaseMs, renewMs, pollMs, marginMs, operationTimeoutMs: Math.min(2_000, leaseMs - marginMs) },
    out: values.get('out') ?? join(mkdtempSync(join(tmpdir(), 'chaos-')), 'chaos'),
  };
}

/** mulberry32: a small seeded PRNG, so that a seed gives the same fault schedule. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Harness {
  private readonly random: () => number;
  private readonly slots: CandidateProcess[] = [];
  private readonly proxies: FaultProxy[] = [];
  private readonly restarts: number[] = [];
  /** Per slot: the libfaketime offset its processes run under (`null`: the real clock). */
  private readonly skews: (string | null)[] = [];
  private readonly lives: CandidateProcess[] = [];
  readonly faults: FaultRecord[] = [];
  server: ChaosServer | undefined;
  stopping = false;

  constructor(private readonly options: Options) {
    this.random = prng(options.seed);
  }

  private between(min: number, max: number): number {
    return Math.round(min + (max - min) * this.random());
  }

  private pickKind(): FaultKind {
    const total = this.options.mix.reduce((sum, entry) => sum + entry.weight, 0);
    let roll = this.random() * total;
    for (const entry of this.options.mix) {
      roll -= entry.weight;
      if (roll < 0) return entry.kind;
    }
    return this.options.mix.at(-1)!.kind;
  }

  async start(): Promise<void> {
    this.server = await startChaosServer();
    const conn = await createConnection({ uri: this.server.url });
    await conn.query(
      `CREATE TABLE ${LEDGER_TABLE} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, term BIGINT UNSIGNED NOT NULL, holder VARCHAR(191) NOT NULL) ENGINE=InnoDB`,
    );
    await conn.query(
      `CREATE TABLE ${RUNS_TABLE} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, job VARCHAR(64) NOT NULL, occurrence VARCHAR(32) NOT NULL, term BIGINT UNSIGNED NOT NULL, holder VARCHAR(191) NOT NULL) ENGINE=InnoDB`,
    );
    await conn.end();
    for (let slot = 0; slot < this.options.candidates; slot++) {
      this.proxies.push(await startFaultProxy({ host: '127.0.0.1', port: this.server.port }));
      this.restarts.push(0);
      this.skews.push(null);
      this.spawn(slot);
    }
    // Up when one of them leads.
    const leader = await this.waitForLeader(60_000);
    if (leader === undefined) {
      const errors = this.slots.map((c) => c.errors).join('\n');
      throw new Error(`no candidate became leader within 60 s of the start.\n${errors}`);
    }
  }

  /** Starts the slot's next process, under the slot's wall-clock skew (sticky until the next skew fault). */
  private spawn(slot: number): CandidateProcess {
    const skew = this.skews[slot];
    const { timing } = this.options;
    const candidate = new CandidateProcess(
      `c${slot}.${this.restarts[slot]++}`,
      slot,
      {
        MYSQL_URL: this.proxies[slot].via(this.server!.url),
        TABLE: LEASE_TABLE,
        LEDGER_TABLE,
        RUNS_TABLE,
        CANDIDATE_ID: `chaos-c${slot}`,
        LEASE_MS: String(timing.leaseMs),
        RENEW_MS: String(timing.renewMs),
        POLL_MS: String(timing.pollMs),
        MARGIN_MS: String(timing.marginMs),
      },
      skew,
    );
    this.slots[slot] = candidate;
    this.lives.push(candidate);
    return candidate;
  }

  /** A slot whose live process announced a leadership it has not announced the end of (paused or not). */
  private leaderSlot(): number | undefined {
    const slot = this.slots.findIndex((c) => c.alive && c.leadingTerm !== null);
    return slot >= 0 ? slot : undefined;
  }

  /** Waits until a running (not paused) process announces leadership, up to `timeoutMs`. */
  private async waitForLeader(timeoutMs: number): Promise<number | undefined> {
    const deadline = now() + timeoutMs;
    while (now() < deadline && !this.stopping) {
      const slot = this.slots.findIndex((c) => c.alive && !c.paused && c.leadingTerm !== null);
      if (slot >= 0) return slot;
      await sleep(20);
    }
    return undefined;
  }

  /** Leader or follower, by a seeded coin; the slot is whoever has that role now. */
  private pickTarget(): { target: 'leader' | 'follower'; slot: number } {
    const wantLeader = this.random() < 0.5;
    const leader = this.leaderSlot();
    const followers = this.slots.map((_, slot) => slot).filter((slot) => slot !== leader);
    const pick = followers[Math.floor(this.random() * followers.length)];
    if (wantLeader && leader !== undefined) return { target: 'leader', slot: leader };
    return { target: 'follower', slot: pick };
  }

  /** Injects one fault and heals it. */
  async inject(n: number): Promise<void> {
    const { timing } = this.options;
    const L = timing.leaseMs;
    const kind = this.pickKind();
    const { target, slot } = kind === 'server' ? { target: 'server', slot: -1 } : this.pickTarget();
    const params: Record<string, number | string> = {};
    const at = now();
    const record = (healedAt: number) =>
      this.faults.push({ n, kind, target, slot: slot >= 0 ? slot : null, params, at, healedAt });
    switch (kind) {
      case 'kill':
      case 'term': {
        params.downMs = kind === 'kill' ? this.between(0, L) : this.between(0, timing.pollMs);
        await this.slots[slot].end(kind === 'kill' ? 'SIGKILL' : 'SIGTERM');
        await sleep(params.downMs);
        this.spawn(slot);
        return void record(now());
      }
      case 'pause': {
        params.pauseMs = this.between(100, 2 * L);
        this.slots[slot].stop();
        await sleep(params.pauseMs);
        this.slots[slot].resume();
        return void record(now());
      }
      case 'latency': {
        params.latencyMs = this.between(5, L / 4);
        params.holdMs = this.between(L / 2, 2 * L);
        this.proxies[slot].setMode({ kind: 'latency', ms: params.latencyMs });
        await sleep(params.holdMs);
        this.proxies[slot].setMode({ kind: 'pass' });
        return void record(now());
      }
      case 'blackhole': {
        params.holdMs = this.between(200, 2 * L);
        this.proxies[slot].setMode({ kind: 'blackhole' });
        await sleep(params.holdMs);
        this.proxies[slot].setMode({ kind: 'pass' });
        return void record(now());
      }
      case 'reset': {
        params.connections = this.proxies[slot].connections;
        this.proxies[slot].reset();
        return void record(now());
      }
      case 'server': {
        const started = now();
        await this.server!.crashAndRestart();
        params.downMs = Math.round(now() - started);
        return void record(now());
      }
      case 'skew': {
        // A host whose wall clock is off (by up to 2 h either way; one in five put right): the slot's
        // process is restarted under libfaketime and its later restarts keep that clock, so skewed
        // candidates lead and follow through the faults after this one. Healed once the process started.
        const minutes = this.between(1, 120);
        const roll = this.random();
        const offset = roll < 0.2 ? null : `${roll < 0.6 ? '-' : '+'}${minutes}m`;
        params.offset = offset ?? 'none';
        this.skews[slot] = offset;
        await this.slots[slot].end('SIGTERM');
        this.spawn(slot);
        return void record(now());
      }
    }
  }

  /** Heals whatever a stop in the middle of a fault left: every process resumed, every proxy passing. */
  healAll(): void {
    for (const candidate of this.slots) if (candidate?.paused) candidate.resume();
    for (const proxy of this.proxies) proxy.setMode({ kind: 'pass' });
  }

  async run(): Promise<void> {
    const { timing, faults, durationS } = this.options;
    const endAt = now() + durationS * 1000;
    const bound = timing.leaseMs + timing.pollMs + livenessToleranceMs(timing);
    for (let n = 1; n <= faults && now() < endAt && !this.stopping; n++) {
      await this.inject(n);
      // Before the next fault: a leader again (the checker judges the delay; this only keeps faults from
      // piling onto a leaderless cluster), then a short random gap.
      await this.waitForLeader(bound + 1_000);
      await sleep(this.between(50, timing.pollMs));
      if (n % 10 === 0) {
        process.stdout.write(`chaos: ${n} faults injected (${Math.round(now() / 1000)} s)\n`);
      }
    }
    // Let the last heal be judged: a leader within the bound, observed.
    await this.waitForLeader(bound + 1_000);
    await sleep(Math.min(bound, 3_000));
  }

  /** Stops every candidate (graceful, SIGKILL after 5 s), reads the ledger, stops the server and proxies. */
  async stop(): Promise<{ ledger: LedgerRow[]; runs: RunRow[] | null }> {
    this.healAll();
    await Promise.all(this.slots.map((candidate) => candidate?.end('SIGTERM', 5_000)));
    let ledger: LedgerRow[] = [];
    let runs: RunRow[] | null = null;
    if (this.server) {
      try {
        const conn = await createConnection({ uri: this.server.url });
        const [rows] = await conn.query(`SELECT id, term, holder FROM ${LEDGER_TABLE} ORDER BY id`);
        ledger = (rows as { id: number | string; term: number | string; holder: string }[]).map((row) => ({
          id: Number(row.id),
          term: Number(row.term),
          holder: row.holder,
        }));
        const [runRows] = await conn.query(
          `SELECT job, occurrence, term, holder FROM ${RUNS_TABLE} ORDER BY id`,
        );
        runs = (runRows as { job: string; occurrence: string; term: number | string; holder: string }[]).map(
          (row) => ({ job: row.job, occurrence: row.occurrence, term: Number(row.term), holder: row.holder }),
        );
        await conn.end();
      } catch (error) {
        process.stderr.write(`chaos: could not read the ledger: ${String(error)}\n`);
      }
    }
    await Promise.all(this.proxies.map((proxy) => proxy.close()));
    await this.server?.stop();
    return { ledger, runs };
  }

  /** Every process id this run started: candidates and servers. */
  get pids(): number[] {
    const candidates = this.lives.map((candidate) => candidate.pid).filter((pid) => pid !== undefined);
    return [...candidates, ...(this.server?.pids ?? [])];
  }

  history({ ledger, runs }: { ledger: LedgerRow[]; runs: RunRow[] | null }, endedAt: number): ChaosHistory {
    return {
      timing: this.options.timing,
      endedAt,
      lives: this.lives.map((candidate) => candidate.toLife()),
      faults: this.faults,
      ledger,
      runs,
    };
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const harness = new Harness(options);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (harness.stopping) {
      // Second Ctrl-C: no more waiting (the exit handler kills the candidates and the server).
      process.exit(130);
    }
    interrupted = true;
    harness.stopping = true;
    process.stderr.write(`chaos: ${signal}: healing and stopping everything started...\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Whatever way the harness ends, nothing it started outlives it.
  process.on('exit', () => {
    killAllCandidates();
    harness.server?.killNow();
  });

  process.stdout.write(
    `chaos: seed ${options.seed}, ${options.candidates} candidates, up to ${options.faults} faults in ${options.durationS} s, ` +
      `L=${options.timing.leaseMs} R=${options.timing.renewMs} P=${options.timing.pollMs} M=${options.timing.marginMs} ms\n`,
  );
  const started = new Date();
  let failure: unknown;
  try {
    await harness.start();
    await harness.run();
  } catch (error) {
    failure = error;
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  const endedAt = now();
  const records = await harness.stop();
  const history = harness.history(records, endedAt);
  const results = checkAll(history);
  const summary = summarize(options, history, results, {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    interrupted,
    error: failure === undefined ? null : String(failure),
    pids: harness.pids,
  });
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(`${options.out}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(`${options.out}.history.json`, JSON.stringify(history));
  writeFileSync(`${options.out}.md`, renderReport(summary));
  process.stdout.write(
    `chaos: report ${options.out}.md, ${options.out}.json (history: ${options.out}.history.json)\n`,
  );
  const checks = summary.checks;
  const passed = checks.filter((check) => check.ok).length;
  const failed = checks.length - passed + (failure === undefined ? 0 : 1);
  for (const check of checks) {
    process.stdout.write(`chaos: ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
  }
  process.stdout.write(
    `chaos: ${summary.faults.total} faults, overlaps ${results.overlaps.violations.length}, term violations ${results.terms.violations.length}, ` +
      `fenced violations ${results.ledger.violations.length}, late leaders ${results.liveness.violations.length}\n`,
  );
  process.stdout.write(`chaos: ${passed} passed, ${failed} failed: ${failed === 0 ? 'PASS' : 'FAIL'}\n`);
  if (interrupted) return 130;
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`chaos: ${error instanceof Error ? error.stack : String(error)}\n`);
      killAllCandidates();
      process.exit(1);
    },
  );
}
