// `npm run chaos`: N candidate processes against a throwaway MariaDB, each through its own fault proxy,
// and a seeded schedule of faults (SIGKILL, SIGTERM, SIGSTOP/SIGCONT, proxy latency / blackhole / reset on
// the leader's or a follower's path, a crash and restart of the throwaway server, a restart under a skewed
// wall clock). Each fault is healed before the next; then the checkers (tools/chaos/checkers.ts) judge the
// recorded history. Writes <out>.json and <out>.md; the last line says PASS or FAIL.
//
//   npm run chaos -- [--faults=100] [--duration=600] [--seed=1] [--candidates=3]
//                    [--mix=kill=2,term=1,pause=2,latency=1,blackhole=2,reset=1,server=1,skew=1]
//                    [--lease=2000 --renew=400 --poll=400 --margin=400] [--out=path/prefix] [--galera]
//
// --galera: a 3-node MariaDB Galera cluster of its own instead (tools/galera-cluster.ts, temp dir, always
// torn down); each candidate gets the node list as `connection`, each node through its own fault proxy to
// it, and the mix adds node faults (tools/chaos/galera-faults.ts): SIGKILL then rejoin, SIGSTOP/SIGCONT,
// and a restart under a skewed wall clock, each on the node carrying the leader's lease traffic or another.
//
// Never touches the shared server: the database is a throwaway one of its own (tools/mysql-server.ts).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import { faketimeEnv } from '../faketime';
import {
  killGaleraClustersNow,
  startGaleraCluster,
  waitApplied,
  type GaleraCluster,
} from '../galera-cluster';
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
import {
  GALERA_FAULT_KINDS,
  leaseNodeOf,
  nodeFaultBounds,
  nodeSkewOffset,
  pickNodeTarget,
} from './galera-faults';
import { restoreCluster, type ClusterRecovery } from './galera-recovery';
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
  ...GALERA_FAULT_KINDS,
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
const DEFAULT_MIX = 'kill=2,term=1,pause=2,latency=1,blackhole=2,reset=1,server=1,skew=1';
/** On Galera: no single server to crash (node-kill is its form); a third of the weight on node faults. */
const DEFAULT_GALERA_MIX =
  'kill=2,term=1,pause=2,latency=1,blackhole=2,reset=1,skew=1,node-kill=2,node-pause=2,node-skew=1';
const LEASE_TABLE = 'chaos_lease';
const LEDGER_TABLE = 'chaos_ledger';
/** Every execution of the candidates' run-once job: no unique key, so a double run shows. */
const RUNS_TABLE = 'chaos_once_runs';
/** --galera: the harness's commit probe, one row per node. */
const PROBE_TABLE = 'chaos_commit_probe';

interface Options {
  readonly faults: number;
  readonly durationS: number;
  readonly seed: number;
  readonly candidates: number;
  readonly mix: readonly { kind: FaultKind; weight: number }[];
  readonly timing: ChaosTiming;
  readonly out: string;
  /** A 3-node Galera cluster instead of one server. */
  readonly galera: boolean;
}

/** A bad command line: `main` prints the message and exits with 2. */
export class ChaosUsageError extends Error {}

function usage(message: string): never {
  throw new ChaosUsageError(message);
}

export function parseMix(text: string, galera = false): { kind: FaultKind; weight: number }[] {
  const mix = text.split(',').map((part) => {
    const [kind, weight = '1'] = part.split('=');
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      usage(`--mix: unknown fault kind "${kind}"; kinds: ${FAULT_KINDS.join(', ')}`);
    }
    if (!galera && (GALERA_FAULT_KINDS as readonly string[]).includes(kind)) {
      usage(`--mix: ${kind} is a Galera node fault; add --galera to run on a 3-node cluster`);
    }
    if (galera && kind === 'server') {
      usage('--mix: on --galera there is no single server to crash; node-kill crashes a node instead');
    }
    const value = Number(weight);
    if (!Number.isFinite(value) || value < 0) usage(`--mix: weight of ${kind} must be a number >= 0`);
    return { kind: kind as FaultKind, weight: value };
  });
  if (!mix.some((entry) => entry.weight > 0)) usage('--mix: at least one kind needs a weight above 0');
  return mix;
}

/** The command line (`--name=value`, and `--galera`); throws `ChaosUsageError` naming the option. */
export function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!match || (match[2] === undefined && match[1] !== 'galera')) {
      usage(`unknown argument "${arg}" (use --name=value, or --galera)`);
    }
    values.set(match[1], match[2] ?? 'true');
  }
  const galeraValue = values.get('galera') ?? 'false';
  if (galeraValue !== 'true' && galeraValue !== 'false') usage('--galera takes no value (or true / false)');
  const galera = galeraValue === 'true';
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
    'galera',
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
    mix: parseMix(values.get('mix') ?? (galera ? DEFAULT_GALERA_MIX : DEFAULT_MIX), galera),
    // The library's default operation deadline: min(2000, L - M).
    timing: { leaseMs, renewMs, pollMs, marginMs, operationTimeoutMs: Math.min(2_000, leaseMs - marginMs) },
    out: values.get('out') ?? join(mkdtempSync(join(tmpdir(), 'chaos-')), 'chaos'),
    galera,
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
  /** Per slot, per node (one node unless --galera): the slot's own fault proxy to that node. */
  private readonly proxies: FaultProxy[][] = [];
  private readonly restarts: number[] = [];
  /** Per slot: the libfaketime offset its processes run under (`null`: the real clock). */
  private readonly skews: (string | null)[] = [];
  private readonly lives: CandidateProcess[] = [];
  readonly faults: FaultRecord[] = [];
  server: ChaosServer | undefined;
  cluster: GaleraCluster | undefined;
  /** --galera: per node, the wall-clock offset it runs under (ms; 0 for the real clock). */
  private readonly nodeSkews: number[] = [];
  /** --galera: restarts of a node that did not rejoin by itself after a fault (before the next fault). */
  rejoinRestarts = 0;
  /** --galera: node starts at a heal (node-kill, node-skew) that failed; the node was restored afterwards. */
  failedRestarts = 0;
  /** --galera: every bootstrap of a primary component and every restart of a node by the harness. */
  readonly recoveries: ClusterRecovery[] = [];
  /** --galera: the commit probe's successful commits (node, harness time), and its loops. */
  private readonly commits: { node: number; t: number }[] = [];
  private probes: Promise<void>[] = [];
  private probing = false;
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

  /** The SQL URL of every node (one unless --galera). */
  private get nodeUrls(): readonly string[] {
    return this.cluster ? this.cluster.urls : [this.server!.url];
  }

  /** A URL for the harness's own statements: the server, or a running node (the first). */
  private get adminUrl(): string {
    if (!this.cluster) return this.server!.url;
    return (this.cluster.nodes.find((node) => node.running()) ?? this.cluster.nodes[0]).url;
  }

  async start(): Promise<void> {
    if (this.options.galera) {
      this.cluster = await startGaleraCluster();
      this.nodeSkews.push(...this.cluster.nodes.map(() => 0));
    } else {
      this.server = await startChaosServer();
    }
    const conn = await createConnection({ uri: this.adminUrl });
    await conn.query(
      `CREATE TABLE ${LEDGER_TABLE} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, term BIGINT UNSIGNED NOT NULL, holder VARCHAR(191) NOT NULL) ENGINE=InnoDB`,
    );
    await conn.query(
      `CREATE TABLE ${RUNS_TABLE} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, job VARCHAR(64) NOT NULL, occurrence VARCHAR(32) NOT NULL, term BIGINT UNSIGNED NOT NULL, holder VARCHAR(191) NOT NULL) ENGINE=InnoDB`,
    );
    if (this.cluster) {
      await conn.query(`CREATE TABLE ${PROBE_TABLE} (node INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB`);
      await conn.query(
        `INSERT INTO ${PROBE_TABLE} VALUES ${this.cluster.nodes.map((_, node) => `(${node}, 0)`).join(', ')}`,
      );
    }
    await conn.end();
    // On Galera: the tables on every node before a candidate connects to its node.
    if (this.cluster) {
      await waitApplied(this.cluster.nodes.map((node) => node.port));
      this.probing = true;
      this.probes = this.cluster.nodes.map((node, index) => this.probe(node.url, index));
    }
    const ports = this.cluster ? this.cluster.nodes.map((node) => node.port) : [this.server!.port];
    for (let slot = 0; slot < this.options.candidates; slot++) {
      const proxies: FaultProxy[] = [];
      for (const port of ports) proxies.push(await startFaultProxy({ host: '127.0.0.1', port }));
      this.proxies.push(proxies);
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
    const urls = this.nodeUrls.map((url, node) => this.proxies[slot][node].via(url));
    const candidate = new CandidateProcess(
      `c${slot}.${this.restarts[slot]++}`,
      slot,
      {
        // On Galera: the ledger and the once-job's record through the slot's own node (fenced writes
        // through another node than the lease traffic's, at times), the lease traffic through the list.
        MYSQL_URL: urls[slot % urls.length],
        ...(this.cluster ? { LEASE_URLS: urls.join(',') } : {}),
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
    if (kind === 'node-kill' || kind === 'node-pause' || kind === 'node-skew')
      return this.injectNode(n, kind);
    const { target, slot } = kind === 'server' ? { target: 'server', slot: -1 } : this.pickTarget();
    const params: Record<string, number | string> = {};
    const at = now();
    const record = (healedAt: number) =>
      this.faults.push({ n, kind, target, slot: slot >= 0 ? slot : null, params, at, healedAt });
    const proxies = slot >= 0 ? this.proxies[slot] : [];
    const setMode = (mode: Parameters<FaultProxy['setMode']>[0]) => {
      for (const proxy of proxies) proxy.setMode(mode);
    };
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
        setMode({ kind: 'latency', ms: params.latencyMs });
        await sleep(params.holdMs);
        setMode({ kind: 'pass' });
        return void record(now());
      }
      case 'blackhole': {
        params.holdMs = this.between(200, 2 * L);
        setMode({ kind: 'blackhole' });
        await sleep(params.holdMs);
        setMode({ kind: 'pass' });
        return void record(now());
      }
      case 'reset': {
        params.connections = proxies.reduce((sum, proxy) => sum + proxy.connections, 0);
        for (const proxy of proxies) proxy.reset();
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

  /**
   * A Galera node fault on the node carrying the leader's lease traffic or another one (seeded coin),
   * healed before it returns: the node rejoined (kill, skew: synced again) or resumed (pause).
   */
  private async injectNode(n: number, kind: 'node-kill' | 'node-pause' | 'node-skew'): Promise<void> {
    const cluster = this.cluster!;
    const { timing } = this.options;
    const leaseNode = leaseNodeOf(this.slots);
    const { target, node } = pickNodeTarget(this.random, leaseNode, cluster.nodes.length);
    const params: Record<string, number | string> = { node: node + 1 };
    const at = now();
    const galeraNode = cluster.nodes[node];
    switch (kind) {
      case 'node-kill': {
        // SIGKILL, down for up to 2 L, then started again: it rejoins by a state transfer.
        params.downMs = this.between(0, 2 * timing.leaseMs);
        await galeraNode.kill();
        await sleep(params.downMs);
        await this.restartNode(galeraNode, n);
        break;
      }
      case 'node-pause': {
        // Frozen for 0.2 s to 4 L: shorter and longer than Galera's 5 s suspect timeout at L = 2 s.
        params.pauseMs = this.between(200, 4 * timing.leaseMs);
        galeraNode.pause();
        await sleep(params.pauseMs);
        galeraNode.resume();
        break;
      }
      case 'node-skew': {
        // Restarted under a wall clock off by up to 0.4 M (sticky until its next skew fault).
        const { offsetMs, faketime } = nodeSkewOffset(this.random, timing.marginMs);
        params.offsetMs = offsetMs;
        this.nodeSkews[node] = offsetMs;
        await this.restartNode(galeraNode, n, faketime ? faketimeEnv(faketime) : {});
        break;
      }
    }
    const healedAt = now();
    this.faults.push({
      n,
      kind,
      target,
      slot: null,
      node,
      params,
      at,
      healedAt,
      ...nodeFaultBounds(timing, target, kind),
    });
    // Never two nodes lost at once (that is a lost majority, not a fault this run injects): every node
    // synced in the 3-node primary component, with the same view and committing, before the next fault.
    await this.restoreCluster(
      n,
      `fault ${n} (${kind} on node ${node + 1}) healed at ${(healedAt / 1000).toFixed(1)} s`,
    );
  }

  /**
   * The heal of a node-kill or node-skew: the node started again. A start that fails (it did not sync within
   * 60 s, or exited: "failed to reach primary view") does not end the run: it is reported, and
   * `restoreCluster` starts the node again once there is a primary component to join.
   */
  private async restartNode(
    galeraNode: GaleraCluster['nodes'][number],
    n: number,
    env?: Record<string, string>,
  ): Promise<void> {
    try {
      await galeraNode.restart(env);
    } catch (error) {
      this.failedRestarts++;
      process.stderr.write(
        `chaos: node ${galeraNode.index} did not rejoin at the heal of fault ${n} (restoring the cluster next): ${String(error).split('\n')[0]}\n`,
      );
    }
  }

  /**
   * The commit probe of one node: an UPDATE of its own row every 200 ms straight to the node (no proxy),
   * each within 1 s (else the connection is dropped and opened again); records every commit. It tells the
   * report when the cluster could commit at all, which no candidate can change.
   */
  private async probe(url: string, node: number): Promise<void> {
    let conn: Awaited<ReturnType<typeof createConnection>> | undefined;
    while (this.probing) {
      try {
        conn ??= await createConnection({ uri: url, connectTimeout: 1_000 });
        const current = conn;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          current.query(`UPDATE ${PROBE_TABLE} SET v = v + 1 WHERE node = ${node}`),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('probe deadline')), 1_000);
          }),
        ]).finally(() => clearTimeout(timer));
        this.commits.push({ node, t: now() });
      } catch {
        conn?.destroy();
        conn = undefined;
      }
      await sleep(200);
    }
    conn?.destroy();
  }

  /**
   * Waits until the cluster is whole again after node fault `n` (tools/chaos/galera-recovery.ts): every node
   * synced in one primary component of all of them and committing; bootstraps a primary component when none
   * formed, restarts a node that does not rejoin, and records each such action.
   */
  private async restoreCluster(n: number, faultText: string): Promise<void> {
    await restoreCluster({
      cluster: this.cluster!,
      commits: this.commits,
      afterFault: n,
      faultText,
      now,
      stopping: () => this.stopping,
      record: (recovery) => {
        this.recoveries.push(recovery);
        if (recovery.action === 'restart') this.rejoinRestarts++;
        process.stderr.write(
          `chaos: cluster recovery after fault ${n}: ${recovery.action} node ${recovery.node + 1}${recovery.ok ? '' : ' (failed)'}: ${recovery.reason}\n`,
        );
      },
    });
  }

  /** Heals whatever a stop in the middle of a fault left: every process resumed, every proxy passing. */
  healAll(): void {
    for (const candidate of this.slots) if (candidate?.paused) candidate.resume();
    for (const proxy of this.proxies.flat()) proxy.setMode({ kind: 'pass' });
    for (const node of this.cluster?.nodes ?? []) node.resume();
  }

  /** The bound the run waits for a leader after a heal before the next fault (the longest that applies). */
  private get waitBoundMs(): number {
    const { timing } = this.options;
    const bound = timing.leaseMs + timing.pollMs + livenessToleranceMs(timing);
    return this.cluster
      ? Math.max(bound, nodeFaultBounds(timing, 'lease-node', 'node-pause').lossBoundMs)
      : bound;
  }

  async run(): Promise<void> {
    const { timing, faults, durationS } = this.options;
    const endAt = now() + durationS * 1000;
    const bound = this.waitBoundMs;
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
  async stop(): Promise<Records> {
    this.healAll();
    this.probing = false;
    await Promise.all(this.probes);
    await Promise.all(this.slots.map((candidate) => candidate?.end('SIGTERM', 5_000)));
    let ledger: LedgerRow[] = [];
    let runs: RunRow[] | null = null;
    let ledgerUnread: string | undefined;
    if (this.server || this.cluster) {
      // Each running node in turn, 20 s each: a node without a primary component blocks a causal read
      // for good (run 5 hung here after a Ctrl-C).
      const urls = this.cluster
        ? this.cluster.nodes.filter((node) => node.running()).map((node) => node.url)
        : [this.server!.url];
      const failures: string[] = [];
      for (const url of urls) {
        try {
          ({ ledger, runs } = await withDeadline(
            20_000,
            (conn) => readRecords(conn, this.cluster !== undefined),
            url,
          ));
          failures.length = 0;
          break;
        } catch (error) {
          failures.push(String(error).split('\n')[0]);
        }
      }
      if (failures.length > 0 || urls.length === 0) {
        ledgerUnread = failures.join('; ') || 'no node was running';
        process.stderr.write(`chaos: could not read the ledger: ${ledgerUnread}\n`);
      }
    }
    await Promise.all(this.proxies.flat().map((proxy) => proxy.close()));
    await this.server?.stop();
    await this.cluster?.stop();
    return { ledger, runs, ledgerUnread };
  }

  /** Every process id this run started: candidates and servers. */
  get pids(): number[] {
    const candidates = this.lives.map((candidate) => candidate.pid).filter((pid) => pid !== undefined);
    return [...candidates, ...(this.server?.pids ?? []), ...(this.cluster?.pids ?? [])];
  }

  history({ ledger, runs, ledgerUnread }: Records, endedAt: number): ChaosHistory {
    return {
      timing: this.options.timing,
      endedAt,
      lives: this.lives.map((candidate) => candidate.toLife()),
      faults: this.faults,
      ledger,
      ...(ledgerUnread !== undefined ? { ledgerUnread } : {}),
      runs,
      ...(this.cluster ? { commits: this.commits, recoveries: this.recoveries } : {}),
    };
  }
}

/** What the harness reads back at the end: the fenced ledger and the runs table. */
interface Records {
  ledger: LedgerRow[];
  runs: RunRow[] | null;
  /** Why the ledger could not be read (the fenced-ledger check then fails). */
  ledgerUnread?: string;
}

/** Runs `work` on a fresh connection to `url`, destroyed after `ms` whatever `work` is waiting for. */
async function withDeadline<T>(ms: number, work: (conn: Connection) => Promise<T>, url: string): Promise<T> {
  const conn = await createConnection({ uri: url, connectTimeout: Math.min(ms, 10_000) });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(conn),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    conn.destroy();
  }
}

/** The fenced ledger and the runs table, in id order; on Galera a causal read of what the cluster committed. */
async function readRecords(conn: Connection, galera: boolean): Promise<Omit<Records, 'ledgerUnread'>> {
  if (galera) await conn.query('SET SESSION wsrep_sync_wait = 1');
  const [rows] = await conn.query(`SELECT id, term, holder FROM ${LEDGER_TABLE} ORDER BY id`);
  const ledger = (rows as { id: number | string; term: number | string; holder: string }[]).map((row) => ({
    id: Number(row.id),
    term: Number(row.term),
    holder: row.holder,
  }));
  const [runRows] = await conn.query(`SELECT job, occurrence, term, holder FROM ${RUNS_TABLE} ORDER BY id`);
  const runs = (runRows as { job: string; occurrence: string; term: number | string; holder: string }[]).map(
    (row) => ({ job: row.job, occurrence: row.occurrence, term: Number(row.term), holder: row.holder }),
  );
  return { ledger, runs };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ChaosUsageError)) throw error;
    process.stderr.write(`chaos: ${error.message}\n`);
    return 2;
  }
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
    // Also a cluster still starting (not yet known to the harness).
    killGaleraClustersNow();
  });

  process.stdout.write(
    `chaos: seed ${options.seed}, ${options.galera ? 'a 3-node Galera cluster, ' : ''}${options.candidates} candidates, up to ${options.faults} faults in ${options.durationS} s, ` +
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
    ...(options.galera
      ? { rejoinRestarts: harness.rejoinRestarts, failedRestarts: harness.failedRestarts }
      : {}),
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
      `fenced violations ${results.ledger.violations.length}, late leaders ${results.liveness.violations.length}` +
      `${results.nodeLosses ? `, long gaps during node losses ${results.nodeLosses.violations.length}` : ''}\n`,
  );
  if (summary.clusterRecoveries) {
    const r = summary.clusterRecoveries;
    process.stdout.write(
      `chaos: cluster recoveries: ${r.count} (${r.bootstraps} bootstraps, ${r.restarts} node restarts, ${r.failedRestarts} failed node starts)\n`,
    );
  }
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
