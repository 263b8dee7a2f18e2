import type { BenchChild } from '../lib/child';
import { Cluster } from '../lib/cluster';
import { GLOBAL_COUNTERS, RowMonitor, type BenchServer, type GlobalCounter } from '../lib/db';
import type { Mode, Settings } from '../lib/settings';
import { log, now, round, sleep, waitUntil } from '../lib/util';

/** Statement counts of one candidate over a window. */
export interface CandidateCost {
  readonly label: string;
  readonly user: string;
  readonly role: 'leader' | 'follower';
  readonly statements: number;
  /** Of `statements`, the SELECTs. */
  readonly selects: number;
  readonly perSecond: number;
}

export interface CostResult {
  readonly candidates: number;
  readonly windowS: number;
  readonly leader: CandidateCost | null;
  readonly followers: readonly CandidateCost[];
  readonly followerPerSecond: { readonly mean: number; readonly max: number };
  readonly followerStatementsMax: number;
  /** SHOW GLOBAL STATUS deltas over the window, minus the bench's own monitoring statements (user root). */
  readonly global: Readonly<Record<GlobalCounter, number>> & { readonly questionsPerSecond: number };
  /** Sum of the candidates' USER_STATISTICS deltas (should match Questions above). */
  readonly candidatesTotal: number;
  /** False when leadership moved during the window (then the split by role is not meaningful). */
  readonly stableRoles: boolean;
}

/**
 * Counts statements per candidate over `windowMs` of steady state (USER_STATISTICS, one MySQL user per
 * candidate), and server-wide through SHOW GLOBAL STATUS. One election.
 */
export async function measureCost(
  server: BenchServer,
  cluster: Cluster,
  windowMs: number,
  election = 'default',
): Promise<CostResult> {
  const members = cluster.live;
  const transitions = () =>
    members.reduce(
      (n, c) => n + c.lines.filter((l) => l.type === 'elected' || l.type === 'revoked').length,
      0,
    );
  const roles = new Map(members.map((child) => [child, child.leads(election)]));
  const before = transitions();
  const s0 = await server.snapshot();
  await sleep(windowMs);
  const s1 = await server.snapshot();
  const stableRoles = transitions() === before && members.every((child) => child.alive);
  const seconds = (s1.t - s0.t) / 1000;
  const costs: CandidateCost[] = members.map((child) => {
    const statements = (s1.users[child.user] ?? 0) - (s0.users[child.user] ?? 0);
    return {
      label: child.label,
      user: child.user,
      role: roles.get(child) ? 'leader' : 'follower',
      statements,
      selects: (s1.selects[child.user] ?? 0) - (s0.selects[child.user] ?? 0),
      perSecond: statements / seconds,
    };
  });
  const followers = costs.filter((cost) => cost.role === 'follower');
  const rootDelta = (s1.users.root ?? 0) - (s0.users.root ?? 0);
  const global = Object.fromEntries(
    GLOBAL_COUNTERS.map((name) => [name, s1.global[name] - s0.global[name]]),
  ) as Record<GlobalCounter, number>;
  // The bench's monitor connections run as root: take their statements out of the server-wide counts.
  global.Questions -= rootDelta;
  global.Com_select -= (s1.selects.root ?? 0) - (s0.selects.root ?? 0);
  return {
    candidates: members.length,
    windowS: seconds,
    leader: costs.find((cost) => cost.role === 'leader') ?? null,
    followers,
    followerPerSecond: {
      mean: followers.reduce((sum, f) => sum + f.perSecond, 0) / Math.max(1, followers.length),
      max: Math.max(0, ...followers.map((f) => f.perSecond)),
    },
    followerStatementsMax: Math.max(0, ...followers.map((f) => f.statements)),
    global: { ...global, questionsPerSecond: global.Questions / seconds },
    candidatesTotal: costs.reduce((sum, cost) => sum + cost.statements, 0),
    stableRoles,
  };
}

/** The largest peak RSS (bytes) among the cluster's live candidates. */
export async function peakRss(cluster: Cluster): Promise<number> {
  const heaps = await cluster.heaps();
  return Math.max(0, ...[...heaps.values()].map((heap) => heap.maxRss));
}

/** Waits until the leader has held the lease and every candidate has run for at least L + P. */
export async function settleSteady(
  cluster: Cluster,
  settings: Settings,
  election = 'default',
): Promise<void> {
  const { leaseMs, pollMs } = settings.timing;
  const leader = await cluster.waitSingleLeader(election);
  const since = Math.max(leader.lastElectedAt(election) ?? 0, ...cluster.live.map((c) => c.readyAt ?? 0));
  await sleep(since + leaseMs + pollMs - now());
}

/** Steady-state cost with `size` candidates in one election, on a fresh table. */
export async function runBigCost(
  server: BenchServer,
  mode: Mode,
  settings: Settings,
  size: number,
): Promise<{ cost: CostResult; peakRss: number; cluster: Cluster; monitor: RowMonitor }> {
  const table = `lease_cost${size}_${mode.label}`;
  const cluster = new Cluster({
    server,
    name: `cost${size}-${mode.label}`,
    table,
    elections: 1,
    timing: settings.timing,
    mode,
  });
  const monitor = new RowMonitor(server, table, 250);
  monitor.start();
  try {
    await cluster.spawnReady(size);
    await settleSteady(cluster, settings);
    const cost = await measureCost(server, cluster, settings.costWindowMs);
    return { cost, peakRss: await peakRss(cluster), cluster, monitor };
  } finally {
    await cluster.stop();
    await monitor.stop();
  }
}

export interface ConnectionsResult {
  readonly elections: number;
  /** Per process: largest number of connections seen, and the doorbell waits (GET_LOCK) at that sample. */
  readonly standby: {
    readonly maxConnections: number;
    readonly lockWaitsAtMax: number;
    readonly samples: number;
  };
  readonly leader: { readonly maxConnections: number; readonly lockWaitsAtMax: number };
  /** Samples where the standby had more connections than 1 + its doorbell waits. */
  readonly standbyOverBudget: number;
  readonly standbyStatementsPerSecond: number;
  readonly leaderStatementsPerSecond: number;
}

/**
 * Two processes in 4 elections (one leads all four): samples PROCESSLIST for the standby's connections
 * and its doorbell waits, and counts both processes' statements.
 */
export async function runConnections(
  server: BenchServer,
  mode: Mode,
  settings: Settings,
): Promise<{ result: ConnectionsResult; cluster: Cluster; monitor: RowMonitor }> {
  const elections = 4;
  const table = `lease_conn_${mode.label}`;
  const cluster = new Cluster({
    server,
    name: `conn-${mode.label}`,
    table,
    elections,
    timing: settings.timing,
    mode,
  });
  const monitor = new RowMonitor(server, table, 250);
  monitor.start();
  try {
    const [leader] = await cluster.spawnReady(1);
    await waitUntil(
      () => leader.leadCount() === elections,
      settings.timing.leaseMs + 20_000,
      'the first process to lead 4 elections',
    );
    const [standby] = await cluster.spawnReady(1);
    await sleep(settings.timing.leaseMs + settings.timing.pollMs);
    const s0 = await server.snapshot();
    const sample = { standby: { max: 0, waits: 0, samples: 0 }, leader: { max: 0, waits: 0 }, over: 0 };
    const end = now() + settings.connectionsWindowMs;
    while (now() < end) {
      const connections = await server.connections();
      const s = connections.get(standby.user) ?? { connections: 0, lockWaits: 0 };
      const l = connections.get(leader.user) ?? { connections: 0, lockWaits: 0 };
      sample.standby.samples++;
      if (s.connections > 1 + s.lockWaits) sample.over++;
      if (s.connections > sample.standby.max)
        sample.standby = { ...sample.standby, max: s.connections, waits: s.lockWaits };
      if (l.connections > sample.leader.max) sample.leader = { max: l.connections, waits: l.lockWaits };
      await sleep(200);
    }
    const s1 = await server.snapshot();
    const seconds = (s1.t - s0.t) / 1000;
    const rate = (child: BenchChild) => ((s1.users[child.user] ?? 0) - (s0.users[child.user] ?? 0)) / seconds;
    if (leader.leadCount() !== elections)
      log(`  [${mode.label}] connections: leadership moved during the window`);
    return {
      result: {
        elections,
        standby: {
          maxConnections: sample.standby.max,
          lockWaitsAtMax: sample.standby.waits,
          samples: sample.standby.samples,
        },
        leader: { maxConnections: sample.leader.max, lockWaitsAtMax: sample.leader.waits },
        standbyOverBudget: sample.over,
        standbyStatementsPerSecond: rate(standby),
        leaderStatementsPerSecond: rate(leader),
      },
      cluster,
      monitor,
    };
  } finally {
    await cluster.stop();
    await monitor.stop();
  }
}

export function describeCost(cost: CostResult): string {
  return (
    `leader ${round(cost.leader?.perSecond ?? NaN, 3)}/s, followers mean ${round(cost.followerPerSecond.mean, 3)}/s ` +
    `max ${round(cost.followerPerSecond.max, 3)}/s, Questions ${round(cost.global.questionsPerSecond, 2)}/s` +
    (cost.stableRoles ? '' : ' (leadership moved during the window)')
  );
}
