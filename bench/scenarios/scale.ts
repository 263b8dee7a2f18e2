import type { RowDataPacket } from 'mysql2/promise';
import {
  DEFAULT_MAX_DOORBELLS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RENEW_INTERVAL_MS,
  DEFAULT_SAFETY_MARGIN_MS,
} from '../../libs/leader-election/src/leader-election.constants';
import { createLeaseTableSql } from '../../libs/leader-election/src/store/lease-table';
import type { BenchChild } from '../lib/child';
import { Cluster } from '../lib/cluster';
import { GLOBAL_COUNTERS, type BenchServer, type GlobalCounter } from '../lib/db';
import { checkOverlaps } from '../lib/overlaps';
import type { Mode, Settings, Timing } from '../lib/settings';
import {
  isAborted,
  log,
  now,
  randomBetween,
  round,
  sleep,
  summarize,
  waitUntil,
  type Summary,
} from '../lib/util';

/** The scale runs use the library's default standby mode (no `standbyMode` option), as an app would. */
export const SCALE_MODE: Mode = { label: 'default', env: undefined };

/**
 * And its default timing, whatever the bench's own (--quick only shortens the windows): the targets are
 * per R, per P and per minute at the options an app runs with.
 */
export const SCALE_TIMING: Timing = {
  leaseMs: DEFAULT_LEASE_DURATION_MS,
  renewMs: DEFAULT_RENEW_INTERVAL_MS,
  pollMs: DEFAULT_POLL_INTERVAL_MS,
  marginMs: DEFAULT_SAFETY_MARGIN_MS,
};

/** One process over a measuring window. */
export interface ProcessCost {
  readonly label: string;
  /** Elections it led at the end of the window. */
  readonly leads: number;
  /** USER_STATISTICS delta (SELECT + UPDATE + OTHER) of its MySQL user. */
  readonly statements: number;
  readonly perSecond: number;
  /** `process.cpuUsage()` delta, reported by the child, per minute. */
  readonly cpuMsPerMin: number;
  /** RSS at the end of the window (bytes). */
  readonly rss: number;
  /** Most connections of its user seen in PROCESSLIST (sampled every second), and its GET_LOCK waits then. */
  readonly maxConnections: number;
  readonly lockWaitsAtMax: number;
  /**
   * Samples in which it had more connections than one lease connection and its doorbell sessions: one per
   * election up to the default maxDoorbells, waiting in GET_LOCK or between two waits (more waits than
   * that, never seen, would count too).
   */
  readonly overBudgetSamples: number;
}

/** Statements, CPU, RSS and connections of a set of processes over one window. */
export interface WindowCost {
  readonly windowS: number;
  readonly processes: readonly ProcessCost[];
  /** SHOW GLOBAL STATUS deltas minus the bench's own statements (user root). */
  readonly global: Readonly<Record<GlobalCounter, number>>;
  readonly serverPerSecond: number;
  /** Sum of the processes' USER_STATISTICS deltas (should match Questions). */
  readonly candidatesTotal: number;
  /** False when some election changed hands during the window or a process died. */
  readonly stableRoles: boolean;
  readonly connectionSamples: number;
}

export interface ThousandResult {
  readonly elections: number;
  readonly leader: ProcessCost & { readonly perR: number };
  readonly follower: ProcessCost & { readonly perP: number };
  readonly window: WindowCost;
  /** heapUsed after two full GCs at the start and the end of the window (bytes). */
  readonly heap: {
    readonly leaderStart: number;
    readonly leaderEnd: number;
    readonly followerStart: number;
    readonly followerEnd: number;
    readonly gcExposed: boolean;
  };
}

export interface HundredResult {
  readonly candidates: number;
  /** From the first spawn to the last `ready` line (100 processes starting on this machine). */
  readonly startS: number;
  readonly window: WindowCost;
  readonly leader: ProcessCost;
  readonly standbys: {
    readonly count: number;
    readonly cpuMsPerMin: Summary;
    readonly rss: Summary;
    readonly perSecond: Summary;
    readonly maxConnections: number;
    /** Standbys with more connections than 1 + their GET_LOCK waits in at least one sample. */
    readonly overBudget: number;
    /** Such samples, over all standbys. */
    readonly overBudgetSamples: number;
  };
}

export interface TenResult {
  readonly processes: number;
  readonly electionsEach: number;
  readonly window: WindowCost;
}

export interface ColdStartResult {
  readonly instances: number;
  readonly rounds: number;
  /** First `elected` line minus the earliest `started` line (the first instance's bootstrap), ms. */
  readonly firstLeaderMs: Summary;
  /** The winner's own `elected` minus its own `started`: the protocol alone, without start-up skew. */
  readonly winnerOwnMs: Summary;
}

export interface DeadHoldersResult extends ColdStartResult {
  /** What was left of the dead leader's lease at the first new instance's bootstrap (DB-clock remaining, ms). */
  readonly remainingAtBootstrapMs: Summary;
  /** New `acquired_at` minus the dead lease's `expires_at`, both on the database clock (ms). */
  readonly overshootMs: Summary;
}

export interface ScaleParts {
  thousand?: ThousandResult;
  hundred?: HundredResult;
  ten?: TenResult;
  coldEmpty?: ColdStartResult;
  coldDead?: DeadHoldersResult;
}

/** How long to let V8's memory reducer finish its start-up collections after the first forced GC. */
const settleMs = (settings: Settings): number => (settings.quick ? 5000 : 25_000);

/**
 * Asks every child for its CPU time, counts statements per MySQL user and server-wide, and samples
 * PROCESSLIST every second, over `windowMs`.
 */
export async function measureWindow(
  server: BenchServer,
  children: readonly BenchChild[],
  windowMs: number,
  elections: readonly string[],
): Promise<WindowCost> {
  const transitions = () =>
    children.reduce(
      (n, c) => n + c.lines.filter((l) => l.type === 'elected' || l.type === 'revoked').length,
      0,
    );
  const before = transitions();
  const cpu0 = await Promise.all(children.map((child) => child.request('cpu', 'cpu', 60_000)));
  const s0 = await server.snapshot();
  const end = now() + windowMs;
  const seen = new Map<BenchChild, { max: number; waits: number; over: number }>();
  const doorbells = Math.min(elections.length, DEFAULT_MAX_DOORBELLS);
  let samples = 0;
  while (now() < end) {
    const connections = await server.connections();
    samples++;
    for (const child of children) {
      const c = connections.get(child.user) ?? { connections: 0, lockWaits: 0 };
      const best = seen.get(child) ?? { max: 0, waits: 0, over: 0 };
      if (c.connections > 1 + Math.max(doorbells, c.lockWaits)) best.over++;
      if (c.connections > best.max) Object.assign(best, { max: c.connections, waits: c.lockWaits });
      seen.set(child, best);
    }
    await sleep(Math.min(1000, end - now()));
  }
  const s1 = await server.snapshot();
  const cpu1 = await Promise.all(children.map((child) => child.request('cpu', 'cpu', 60_000)));
  const windowS = (s1.t - s0.t) / 1000;
  const processes = children.map((child, i): ProcessCost => {
    const statements = (s1.users[child.user] ?? 0) - (s0.users[child.user] ?? 0);
    const cpuMs = Number(cpu1[i].cpuMs) - Number(cpu0[i].cpuMs);
    const elapsed = cpu1[i].t - cpu0[i].t;
    const connections = seen.get(child) ?? { max: 0, waits: 0, over: 0 };
    return {
      label: child.label,
      leads: elections.filter((name) => child.leads(name)).length,
      statements,
      perSecond: statements / windowS,
      cpuMsPerMin: (cpuMs * 60_000) / elapsed,
      rss: Number(cpu1[i].rss),
      maxConnections: connections.max,
      lockWaitsAtMax: connections.waits,
      overBudgetSamples: connections.over,
    };
  });
  const global = Object.fromEntries(
    GLOBAL_COUNTERS.map((name) => [name, s1.global[name] - s0.global[name]]),
  ) as Record<GlobalCounter, number>;
  // The bench's snapshots and PROCESSLIST samples run as root: take them out of the server-wide counts.
  global.Questions -= (s1.users.root ?? 0) - (s0.users.root ?? 0);
  global.Com_select -= (s1.selects.root ?? 0) - (s0.selects.root ?? 0);
  return {
    windowS,
    processes,
    global,
    serverPerSecond: global.Questions / windowS,
    candidatesTotal: processes.reduce((sum, p) => sum + p.statements, 0),
    stableRoles: transitions() === before && children.every((child) => child.alive),
    connectionSamples: samples,
  };
}

/** One full GC in each process, then time for the memory reducer's follow-up collections. */
async function settleMemory(children: readonly BenchChild[], settings: Settings): Promise<void> {
  await Promise.all(children.map((child) => child.request('heap', 'heap', 60_000)));
  await sleep(settleMs(settings));
}

/**
 * One Nest candidate process in 1,000 elections leading all of them, and a second following all of
 * them: statements per R and per P, CPU per minute and heap growth over the heap window (5 minutes).
 */
export async function runThousand(
  server: BenchServer,
  settings: Settings,
  /** Called when both processes have started and the window begins (the other runs may start then). */
  onSteady: () => void = () => undefined,
): Promise<{ result: ThousandResult; cluster: Cluster }> {
  const { timing, scaleElections: elections } = settings;
  const cluster = new Cluster({
    server,
    name: `scale-${elections}`,
    table: `lease_scale_${elections}`,
    elections,
    timing,
    mode: SCALE_MODE,
  });
  try {
    const [leader] = await cluster.spawnReady(1);
    await waitUntil(
      () => leader.leadCount() === elections,
      timing.leaseMs + 60_000,
      `one process to lead ${elections} elections`,
      50,
    );
    const [follower] = await cluster.spawnReady(1);
    await sleep(timing.leaseMs + timing.pollMs); // past the follower's first reads: steady state
    await settleMemory([leader, follower], settings);
    const heap0 = await cluster.heaps([leader, follower], 120_000);
    onSteady();
    log(`  ${elections} elections, leader and follower: window ${settings.scaleHeapWindowMs / 1000} s`);
    const window = await measureWindow(
      server,
      [leader, follower],
      settings.scaleHeapWindowMs,
      cluster.electionNames,
    );
    const heap1 = await cluster.heaps([leader, follower], 120_000);
    const gcExposed = (await leader.request('heap', 'heap', 120_000)).gc === true;
    const [l, f] = window.processes;
    const used = (map: typeof heap0, child: BenchChild) => map.get(child)?.heapUsed ?? Number.NaN;
    return {
      result: {
        elections,
        leader: { ...l, perR: (l.perSecond * timing.renewMs) / 1000 },
        follower: { ...f, perP: (f.perSecond * timing.pollMs) / 1000 },
        window,
        heap: {
          leaderStart: used(heap0, leader),
          leaderEnd: used(heap1, leader),
          followerStart: used(heap0, follower),
          followerEnd: used(heap1, follower),
          gcExposed,
        },
      },
      cluster,
    };
  } finally {
    await cluster.stop();
  }
}

/**
 * `settings.scaleCandidates` (100) light candidates (the elector without Nest) on one election, started
 * at once: server statements per second, each standby's CPU, RSS and connections.
 */
export async function runHundred(
  server: BenchServer,
  settings: Settings,
  /** Runs once they are up, idle and collected, before the settling time and the window. */
  beforeWindow: () => Promise<void> = async () => undefined,
): Promise<{ result: HundredResult; cluster: Cluster }> {
  const { timing, scaleCandidates: size } = settings;
  const cluster = new Cluster({
    server,
    name: `scale-x${size}`,
    table: `lease_scale_x${size}`,
    elections: 1,
    timing,
    mode: SCALE_MODE,
    script: 'light-candidate',
  });
  try {
    const started = now();
    const children = await cluster.spawnMany(size);
    await Promise.all(children.map((child) => child.waitReady(240_000)));
    const startS = (now() - started) / 1000;
    log(`  ${size} light candidates ready in ${round(startS, 1)} s`);
    await cluster.waitSingleLeader();
    await sleep(timing.leaseMs + timing.pollMs);
    await Promise.all(children.map((child) => child.request('heap', 'heap', 60_000)));
    await beforeWindow();
    await sleep(settleMs(settings));
    const window = await measureWindow(server, children, settings.scaleWindowMs, ['default']);
    const leaderIndex = children.findIndex((child) => child.leads());
    if (leaderIndex < 0) throw new Error(`no leader among the ${size} candidates at the end of the window`);
    const standbys = window.processes.filter((_, i) => i !== leaderIndex);
    return {
      result: {
        candidates: size,
        startS,
        window,
        leader: window.processes[leaderIndex],
        standbys: {
          count: standbys.length,
          cpuMsPerMin: summarize(standbys.map((p) => p.cpuMsPerMin)),
          rss: summarize(standbys.map((p) => p.rss)),
          perSecond: summarize(standbys.map((p) => p.perSecond)),
          maxConnections: Math.max(0, ...standbys.map((p) => p.maxConnections)),
          overBudget: standbys.filter((p) => p.overBudgetSamples > 0).length,
          overBudgetSamples: standbys.reduce((sum, p) => sum + p.overBudgetSamples, 0),
        },
      },
      cluster,
    };
  } finally {
    await cluster.stop();
  }
}

/** 10 light candidates each in the same 100 elections, started at once: leadership spreads among them. */
export async function runTen(
  server: BenchServer,
  settings: Settings,
): Promise<{ result: TenResult; cluster: Cluster }> {
  const { timing } = settings;
  const processes = 10;
  const electionsEach = 100;
  const cluster = new Cluster({
    server,
    name: `scale-${processes}x${electionsEach}`,
    table: `lease_scale_${processes}x${electionsEach}`,
    elections: electionsEach,
    timing,
    mode: SCALE_MODE,
    script: 'light-candidate',
  });
  try {
    const children = await cluster.spawnMany(processes);
    await Promise.all(children.map((child) => child.waitReady(120_000)));
    const names = cluster.electionNames;
    await waitUntil(
      () => names.every((name) => cluster.leaders(name).length === 1),
      timing.leaseMs + 60_000,
      `one leader in each of ${electionsEach} elections`,
      50,
    );
    await sleep(timing.leaseMs + timing.pollMs);
    await settleMemory(children, settings);
    const window = await measureWindow(server, children, settings.scaleWindowMs, names);
    return { result: { processes, electionsEach, window }, cluster };
  } finally {
    await cluster.stop();
  }
}

/** Creates the lease table (empty) on the bench's own connection. */
async function createTable(server: BenchServer, table: string): Promise<void> {
  const conn = await server.connect();
  try {
    await conn.query(createLeaseTableSql(table));
  } finally {
    await conn.end();
  }
}

/**
 * Starts `count` light candidates that load everything and wait (DEFER_START=1); resolves once all have
 * loaded. `go` then starts their electors back to back and waits for them to be ready.
 */
async function spawnLoaded(
  cluster: Cluster,
  count: number,
): Promise<{ children: BenchChild[]; go: () => Promise<void> }> {
  const children = await cluster.spawnMany(count);
  await waitUntil(
    () => {
      const dead = children.find((child) => child.exitedAt !== undefined);
      if (dead) throw new Error(`${dead.label} exited at start:\n${dead.errorOutput}`);
      return children.every((child) => child.lines.some((line) => line.type === 'loaded'));
    },
    120_000,
    `${count} candidates of ${cluster.options.name} to load`,
    20,
  );
  const go = async () => {
    for (const child of children) child.process.stdin?.write('start\n');
    await Promise.all(children.map((child) => child.waitReady(60_000)));
  };
  return { children, go };
}

const firstLine = (children: readonly BenchChild[], type: string, aboveTerm = 0) => {
  let best: { child: BenchChild; t: number } | undefined;
  for (const child of children) {
    const line = child.lines.find((l) => l.type === type && (l.term ?? 0) >= aboveTerm);
    if (line && (!best || line.t < best.t)) best = { child, t: line.t };
  }
  return best;
};

/**
 * Cold start of `instances` light candidates at once on an empty lease table (created beforehand, no
 * rows): the first `elected` line against the earliest `started` line (the elector's start, which the
 * module runs at application bootstrap).
 */
export async function runColdEmpty(
  server: BenchServer,
  settings: Settings,
): Promise<{ result: ColdStartResult; clusters: Cluster[] }> {
  const instances = settings.scaleColdInstances;
  const rounds = settings.quick ? 3 : 5;
  const first: number[] = [];
  const own: number[] = [];
  const clusters: Cluster[] = [];
  for (let round = 1; round <= rounds; round++) {
    const table = `lease_cold_empty_${round}`;
    await createTable(server, table);
    const cluster = new Cluster({
      server,
      name: `cold-empty-${round}`,
      table,
      elections: 1,
      timing: settings.timing,
      mode: SCALE_MODE,
      script: 'light-candidate',
      env: { DEFER_START: '1' },
    });
    clusters.push(cluster);
    try {
      const { children, go } = await spawnLoaded(cluster, instances);
      await go();
      await cluster.waitSingleLeader();
      const started = firstLine(children, 'started');
      const elected = firstLine(children, 'elected');
      if (!started || !elected) throw new Error(`${cluster.options.name}: no started or elected line`);
      first.push(elected.t - started.t);
      const winnerStart = elected.child.lines.find((l) => l.type === 'started');
      own.push(elected.t - (winnerStart?.t ?? Number.NaN));
    } finally {
      await cluster.stop();
    }
  }
  return {
    result: { instances, rounds, firstLeaderMs: summarize(first), winnerOwnMs: summarize(own) },
    clusters,
  };
}

/**
 * Cold start on a table whose row is held by dead processes: `instances` candidates elect a leader, all
 * are SIGKILLed a random part of R into a renewal period, and as many new ones start at once on the same
 * table. The protocol promises the takeover at the dead lease's expiry (a new candidate's first read
 * schedules its attempt at the database-reported remaining time), never before.
 */
export async function runColdDead(
  server: BenchServer,
  settings: Settings,
): Promise<{ result: DeadHoldersResult; clusters: Cluster[] }> {
  const { timing } = settings;
  const instances = settings.scaleColdInstances;
  const rounds = settings.quick ? 2 : 3;
  const first: number[] = [];
  const own: number[] = [];
  const remaining: number[] = [];
  const overshoot: number[] = [];
  const clusters: Cluster[] = [];
  const conn = await server.connect();
  try {
    for (let round = 1; round <= rounds; round++) {
      const table = `lease_cold_dead_${round}`;
      // One cluster for the dead and the new processes: the overlap check covers both.
      const cluster = new Cluster({
        server,
        name: `cold-dead-${round}`,
        table,
        elections: 1,
        timing,
        mode: SCALE_MODE,
        script: 'light-candidate',
        env: { DEFER_START: '1' },
      });
      clusters.push(cluster);
      try {
        const initial = await spawnLoaded(cluster, instances);
        await initial.go();
        const dead = initial.children;
        const leader = await cluster.waitSingleLeader();
        // The successors load before the kill, so that the dead lease is still held when they start.
        const next = await spawnLoaded(cluster, instances);
        const fresh = next.children;
        await sleep(timing.pollMs + randomBetween(0, timing.renewMs));
        if (!leader.leads()) throw new Error(`${cluster.options.name}: leadership moved before the kill`);
        for (const child of dead) cluster.signal(child, 'SIGKILL');
        await Promise.all(dead.map((child) => child.exited));
        const old = await server.row(table, 'default');
        if (!old?.valid)
          throw new Error(`${cluster.options.name}: the dead leader's lease had run out already`);
        await next.go();
        await waitUntil(
          () => fresh.some((child) => child.leads()),
          timing.leaseMs + timing.pollMs + 30_000,
          `a new leader in ${cluster.options.name}`,
        );
        const started = firstLine(fresh, 'started');
        const elected = firstLine(fresh, 'elected', old.term + 1);
        if (!started || !elected) throw new Error(`${cluster.options.name}: no started or elected line`);
        first.push(elected.t - started.t);
        const winnerStart = elected.child.lines.find((l) => l.type === 'started');
        own.push(elected.t - (winnerStart?.t ?? Number.NaN));
        const now2 = await server.row(table, 'default');
        if (!now2 || now2.term <= old.term)
          throw new Error(`${cluster.options.name}: no new term in the row`);
        overshoot.push((await server.diffUs(old.expiresAt, now2.acquiredAt)) / 1000);
        // The dead lease's time left when the first new instance started: its expiry minus that instant,
        // through the database clock now (both clocks run at the same rate on this host).
        const [rows] = await conn.query<RowDataPacket[]>(
          'SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), CAST(? AS DATETIME(6))) AS us',
          [old.expiresAt],
        );
        remaining.push(Number(rows[0].us) / 1000 + (now() - started.t));
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    await conn.end();
  }
  return {
    result: {
      instances,
      rounds,
      firstLeaderMs: summarize(first),
      winnerOwnMs: summarize(own),
      remainingAtBootstrapMs: summarize(remaining),
      overshootMs: summarize(overshoot),
    },
    clusters,
  };
}

/** Everything of the scale runs, with its own run header (a scale-only run updates only its section). */
export interface ScaleResult extends ScaleParts {
  readonly generatedAt: string;
  readonly durationS: number;
  readonly command: string;
  readonly librarySource: string;
  readonly quick: boolean;
  readonly timing: Timing;
  readonly heapWindowMs: number;
  readonly windowMs: number;
  /** True when the 100 candidates' window waited for the end of the 1,000-election run (the default). */
  readonly serial: boolean;
  readonly machine: string;
  readonly overlaps: { readonly found: number; readonly intervals: number; readonly details: string[] };
  readonly errors: string[];
}

/**
 * All scale runs: the 10 x 100 and cold-start runs one after another on `server` (which nothing else uses
 * meanwhile), then the 100-candidate run there with the 1,000-election run on a server of its own
 * (`startServer`) beside it. A part that fails is recorded in `errors` and the others go on.
 */
export async function runScale(
  server: BenchServer,
  startServer: (label: string) => Promise<BenchServer>,
  settings: Settings,
  context: { readonly command: string; readonly librarySource: string; readonly machine: string },
): Promise<ScaleResult> {
  const startedAt = now();
  const parts: ScaleParts = {};
  const errors: string[] = [];
  const clusters: Cluster[] = [];
  const part = async <T>(name: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      if (isAborted()) throw error;
      const message = `scale, ${name}: ${error instanceof Error ? error.message : String(error)}`;
      errors.push(message);
      log(`FAILED ${message}`);
      return undefined;
    }
  };
  // The library's default timing for every part (see SCALE_TIMING).
  settings = { ...settings, timing: SCALE_TIMING };
  const { timing } = settings;
  const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
  log(
    `scale runs at the library's default options: L=${timing.leaseMs} R=${timing.renewMs} P=${timing.pollMs} ` +
      `M=${timing.marginMs}, default standby mode`,
  );

  // First the parts whose start-ups load the machine (10-process starts), alone. Then the 100 candidates
  // start; once they idle, the two processes of the 1,000-election run start on a server of their own, and
  // its 5-minute window runs while the 100 idle; the 100 candidates' window comes after it, so that their
  // CPU is their own (during the 1,000-election window it measured three times as much here).
  // --scale-together: both windows at once, as before (two minutes shorter).
  log('scale: 10 light candidates each in 100 elections');
  const ten = await part('10 x 100 elections', () => runTen(server, settings));
  if (ten) {
    clusters.push(ten.cluster);
    parts.ten = ten.result;
    log(`  10 x 100: server ${round(ten.result.window.serverPerSecond, 2)} statements/s`);
  }
  log(`scale: cold start of ${settings.scaleColdInstances} instances on an empty table`);
  const empty = await part('cold start on an empty table', () => runColdEmpty(server, settings));
  if (empty) {
    clusters.push(...empty.clusters);
    parts.coldEmpty = empty.result;
    log(
      `  first leader after the first bootstrap: p50 ${round(empty.result.firstLeaderMs.p50, 1)} ms, max ${round(empty.result.firstLeaderMs.max, 1)} ms`,
    );
  }
  log(`scale: cold start of ${settings.scaleColdInstances} instances on a row held by dead processes`);
  const dead = await part('cold start on dead holders', () => runColdDead(server, settings));
  if (dead) {
    clusters.push(...dead.clusters);
    parts.coldDead = dead.result;
    const d = dead.result;
    log(
      `  first leader ${round(d.firstLeaderMs.p50, 1)} ms after bootstrap (lease left ${round(d.remainingAtBootstrapMs.p50, 1)} ms), ` +
        `overshoot p90 ${round(d.overshootMs.p90, 1)} ms`,
    );
  }

  let thousand: Promise<void> | undefined;
  /** Starts the 1,000-election run; resolves once its processes have settled (or it failed). */
  const startThousand = async (): Promise<void> => {
    let steady: () => void = () => undefined;
    const thousandSteady = new Promise<void>((resolve) => (steady = resolve));
    const run = (async () => {
      const own = await part('server for the 1,000-election run', () => startServer('scale-1000'));
      if (!own) return;
      try {
        log(`scale: ${settings.scaleElections} elections in one process, then a follower`);
        const result = await part(`${settings.scaleElections} elections`, () =>
          runThousand(own, settings, steady),
        );
        if (!result) return;
        clusters.push(result.cluster);
        parts.thousand = result.result;
        const t = result.result;
        log(
          `  ${t.elections} elections: leader ${round(t.leader.perR, 2)} per R ${round(t.leader.cpuMsPerMin, 1)} ms/min, ` +
            `follower ${round(t.follower.perP, 2)} per P ${round(t.follower.cpuMsPerMin, 1)} ms/min; heap growth ` +
            `${mb(t.heap.leaderEnd - t.heap.leaderStart)} MB / ${mb(t.heap.followerEnd - t.heap.followerStart)} MB`,
        );
      } finally {
        steady();
        await own.stop();
      }
    })();
    run.catch(() => undefined); // awaited below
    thousand = run;
    await Promise.race([thousandSteady, run]);
    if (settings.scaleSerial) await run;
  };

  log(`scale: ${settings.scaleCandidates} light candidates on one election`);
  const hundred = await part(`${settings.scaleCandidates} candidates`, () =>
    runHundred(server, settings, startThousand),
  );
  if (hundred) {
    clusters.push(hundred.cluster);
    parts.hundred = hundred.result;
    const h = hundred.result;
    log(
      `  ${h.candidates} candidates: server ${round(h.window.serverPerSecond, 2)} statements/s, standby CPU p50 ` +
        `${round(h.standbys.cpuMsPerMin.p50, 1)} max ${round(h.standbys.cpuMsPerMin.max, 1)} ms/min, RSS p50 ${mb(h.standbys.rss.p50)} MB`,
    );
  }
  if (!thousand) await startThousand(); // the 100-candidate run failed before it started it
  await thousand;

  const overlaps = checkOverlaps(
    clusters.map((cluster) => ({ cluster })),
    now(),
  );
  return {
    ...parts,
    generatedAt: new Date().toISOString(),
    durationS: (now() - startedAt) / 1000,
    command: context.command,
    librarySource: context.librarySource,
    quick: settings.quick,
    timing,
    heapWindowMs: settings.scaleHeapWindowMs,
    windowMs: settings.scaleWindowMs,
    serial: settings.scaleSerial,
    machine: context.machine,
    overlaps: {
      found: overlaps.overlaps + overlaps.termConflicts + overlaps.termsNotIncreasing,
      intervals: overlaps.intervals,
      details: overlaps.details,
    },
    errors,
  };
}
