import { Cluster } from '../lib/cluster';
import { RowMonitor, type BenchServer } from '../lib/db';
import type { Mode, Settings } from '../lib/settings';
import { log, round, sleep, waitUntil } from '../lib/util';

export interface MultiResult {
  readonly elections: number;
  /** The first process alone, leading every election. */
  readonly alone: { readonly windowS: number; readonly perSecond: number; readonly perR: number };
  /** With a second process following every election. */
  readonly pair: {
    readonly windowS: number;
    readonly leaderPerSecond: number;
    readonly leaderPerR: number;
    readonly followerPerSecond: number;
    readonly followerPerP: number;
  };
  /** heapUsed after GC, over the heap window (bytes). */
  readonly heap: {
    readonly windowS: number;
    readonly leaderStart: number;
    readonly leaderEnd: number;
    readonly leaderGrowth: number;
    readonly followerStart: number;
    readonly followerEnd: number;
    readonly followerGrowth: number;
    readonly gcExposed: boolean;
  };
  readonly maxRss: { readonly leader: number; readonly follower: number };
  /** False when leadership of some election moved during the windows. */
  readonly stableRoles: boolean;
}

/**
 * One process in 100 elections alone (it leads all), then with a second process that follows all 100:
 * statements per R and per P, heap growth over the heap window, peak RSS.
 */
export async function runMulti(
  server: BenchServer,
  mode: Mode,
  settings: Settings,
): Promise<{ result: MultiResult; cluster: Cluster; monitor: RowMonitor }> {
  const { timing, multiElections: elections } = settings;
  const table = `lease_multi_${mode.label}`;
  const cluster = new Cluster({
    server,
    name: `multi-${mode.label}`,
    table,
    elections,
    timing,
    mode,
  });
  const monitor = new RowMonitor(server, table, 500);
  monitor.start();
  try {
    const [leader] = await cluster.spawnReady(1);
    await waitUntil(
      () => leader.leadCount() === elections,
      timing.leaseMs + 30_000,
      `one process to lead ${elections} elections`,
      20,
    );
    await sleep(Math.max(timing.leaseMs, 2000) + timing.renewMs); // past start-up: steady state
    const s0 = await server.snapshot();
    await sleep(settings.aloneWindowMs);
    const s1 = await server.snapshot();
    const aloneS = (s1.t - s0.t) / 1000;
    const alone = (s1.users[leader.user] - s0.users[leader.user]) / aloneS;
    log(
      `  [${mode.label}] ${elections} elections, alone: ${round(alone, 2)} statements/s (${round((alone * timing.renewMs) / 1000, 1)} per R)`,
    );

    const [follower] = await cluster.spawnReady(1);
    await sleep(timing.leaseMs + timing.pollMs);
    const transitions = () =>
      cluster.members.reduce(
        (n, c) => n + c.lines.filter((l) => l.type === 'elected' || l.type === 'revoked').length,
        0,
      );
    const heap0 = await cluster.heaps([leader, follower]);
    const before = transitions();
    const s2 = await server.snapshot();
    log(
      `  [${mode.label}] ${elections} elections, 2 processes: heap window ${settings.heapWindowMs / 1000} s`,
    );
    await sleep(settings.heapWindowMs);
    const s3 = await server.snapshot();
    const stableRoles = transitions() === before && leader.leadCount() === elections;
    const heap1 = await cluster.heaps([leader, follower]);
    const pairS = (s3.t - s2.t) / 1000;
    const leaderRate = (s3.users[leader.user] - s2.users[leader.user]) / pairS;
    const followerRate = (s3.users[follower.user] - s2.users[follower.user]) / pairS;
    const gcExposed = (await leader.request('heap', 'heap')).gc === true;
    const h = (map: typeof heap0, child: typeof leader) => map.get(child) ?? { heapUsed: NaN, maxRss: NaN };
    return {
      result: {
        elections,
        alone: { windowS: aloneS, perSecond: alone, perR: (alone * timing.renewMs) / 1000 },
        pair: {
          windowS: pairS,
          leaderPerSecond: leaderRate,
          leaderPerR: (leaderRate * timing.renewMs) / 1000,
          followerPerSecond: followerRate,
          followerPerP: (followerRate * timing.pollMs) / 1000,
        },
        heap: {
          windowS: pairS,
          leaderStart: h(heap0, leader).heapUsed,
          leaderEnd: h(heap1, leader).heapUsed,
          leaderGrowth: h(heap1, leader).heapUsed - h(heap0, leader).heapUsed,
          followerStart: h(heap0, follower).heapUsed,
          followerEnd: h(heap1, follower).heapUsed,
          followerGrowth: h(heap1, follower).heapUsed - h(heap0, follower).heapUsed,
          gcExposed,
        },
        maxRss: { leader: h(heap1, leader).maxRss, follower: h(heap1, follower).maxRss },
        stableRoles,
      },
      cluster,
      monitor,
    };
  } finally {
    await cluster.stop();
    await monitor.stop();
  }
}
