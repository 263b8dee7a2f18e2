import { Cluster } from '../lib/cluster';
import type { BenchChild } from '../lib/child';
import { RowMonitor, type BenchServer } from '../lib/db';
import type { Mode, Settings, Timing } from '../lib/settings';
import { log, now, sleep, waitUntil } from '../lib/util';

/** Balanced leadership: 64 shards (`elections: [{ prefix: 'shard-', count: 64 }]`) on 4 candidates. */
export interface BalancedResult {
  readonly timing: Timing;
  readonly shards: number;
  /** Shards led per candidate once 4 have started (after a settle of 2 P). */
  readonly countsOfFour: number[];
  /** SIGKILL of one to the last of its shards led again (the `elected` line's time), ms. */
  readonly failoverMs: number;
  /** Shards led per survivor once they lead all shards and are balanced (or at the deadline). */
  readonly countsOfThree: number[];
  /** A fourth candidate joins again: its `ready` line to the moment all 4 lead 16 ± 1, ms. */
  readonly rejoinMs: number;
  readonly countsAfterJoin: number[];
}

const SHARDS = 64;
const PREFIX = 'shard-';

/** Which shards each candidate leads now; and how many shards are led by anybody. */
function census(children: readonly BenchChild[]): { counts: number[]; total: number } {
  const led = children.map((child) => {
    const shards = new Set<string>();
    if (!child.alive) return shards;
    for (const line of child.lines) {
      if (!line.election?.startsWith(PREFIX)) continue;
      if (line.type === 'elected') shards.add(line.election);
      if (line.type === 'revoked') shards.delete(line.election);
    }
    return shards;
  });
  return { counts: led.map((set) => set.size), total: new Set(led.flatMap((set) => [...set])).size };
}

const within = (counts: readonly number[], low: number, high: number) =>
  counts.every((n) => n >= low && n <= high);

/**
 * Four candidates in a balanced group of 64 shards: the share of each; SIGKILL of one, the time until the
 * three others lead all 64 and their shares; a new candidate joins, the time until it leads its share.
 * Overlaps per shard are checked with every other run (the cluster goes to the overlap report).
 */
export async function runBalanced(
  server: BenchServer,
  mode: Mode,
  settings: Settings,
): Promise<{ cluster: Cluster; monitor: RowMonitor; result: BalancedResult }> {
  const timing = settings.timing;
  const cluster = new Cluster({
    server,
    name: 'balanced',
    table: `balanced_${Date.now()}`,
    elections: 1,
    timing,
    mode,
    env: { BALANCED: `${PREFIX}:${SHARDS}` },
  });
  const monitor = new RowMonitor(server, cluster.options.table, 250);
  monitor.start();
  try {
    return { cluster, monitor, result: await measure(cluster, timing) };
  } finally {
    await cluster.stop();
    await monitor.stop();
  }
}

async function measure(cluster: Cluster, timing: Timing): Promise<BalancedResult> {
  const settleMs = 3 * timing.leaseMs + 10_000;
  const four = await cluster.spawnReady(4);
  await waitUntil(
    () => {
      const { counts, total } = census(four);
      return total === SHARDS && within(counts, 15, 17);
    },
    settleMs,
    '4 candidates to lead 16 ± 1 shards each',
  ).catch(() => undefined); // recorded as measured below
  await sleep(2 * timing.pollMs);
  const countsOfFour = census(four).counts;
  log(`  4 candidates: ${countsOfFour.join(' / ')} shards`);

  const [victim, ...survivors] = four;
  const orphans = SHARDS - census(survivors).counts.reduce((a, b) => a + b, 0);
  const killedAt = cluster.signal(victim, 'SIGKILL');
  await victim.waitExit(15_000);
  await waitUntil(() => census(survivors).total === SHARDS, settleMs, 'the survivors to lead all shards');
  const lastTaken = Math.max(
    ...survivors.flatMap((child) =>
      child.lines
        .filter((line) => line.type === 'elected' && line.election?.startsWith(PREFIX) && line.t >= killedAt)
        .map((line) => line.t),
    ),
  );
  const failoverMs = lastTaken - killedAt;
  await waitUntil(() => within(census(survivors).counts, 21, 22), settleMs, '21 to 22 shards each').catch(
    () => undefined,
  );
  const countsOfThree = census(survivors).counts;
  log(
    `  SIGKILL of one (${orphans} shards): all ${SHARDS} led again after ${Math.round(failoverMs)} ms; ` +
      `then ${countsOfThree.join(' / ')}`,
  );

  const [joiner] = await cluster.spawnReady(1);
  const joinedAt = joiner.readyAt ?? now();
  const again = [...survivors, joiner];
  await waitUntil(
    () => {
      const { counts, total } = census(again);
      return total === SHARDS && within(counts, 15, 17);
    },
    settleMs,
    'the joining candidate to lead its share',
  ).catch(() => undefined);
  const rejoinMs = now() - joinedAt;
  const countsAfterJoin = census(again).counts;
  log(`  a candidate joins: ${countsAfterJoin.join(' / ')} after ${Math.round(rejoinMs)} ms`);
  return { timing, shards: SHARDS, countsOfFour, failoverMs, countsOfThree, rejoinMs, countsAfterJoin };
}
