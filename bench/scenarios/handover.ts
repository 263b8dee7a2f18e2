import { BenchChild } from '../lib/child';
import { Cluster } from '../lib/cluster';
import type { BenchServer } from '../lib/db';
import type { Settings, Timing } from '../lib/settings';
import { log, now, randomBetween, round, sleep, summarize, waitUntil, type Summary } from '../lib/util';

/** Graceful handover at the library's defaults, measured as a user sees it. */
export interface HandoverLimitResult {
  readonly timing: Timing;
  /** Per cluster size: SIGTERM of the leader to the successor's `@OnLeadershipGranted()` hook. */
  readonly byCandidates: { readonly candidates: number; readonly grantedMs: Summary }[];
  /**
   * Handover to a chosen candidate, 3 candidates: `resign(election, { to })` called in the leader (its
   * `resigning` line) to the named candidate's granted hook; `won` counts tries the named one won.
   */
  readonly handoverTo?: { readonly grantedMs: Summary; readonly won: number; readonly tries: number };
  /**
   * The floor: the same handover between two bare processes (bench/floor-candidate.ts: mysql2 only), from
   * SIGTERM of the one holding the row and the lock to the other's won compare-and-swap.
   */
  readonly floorMs?: Summary;
}

/** The library's default timings: the rows are stated at L = 10 s whatever the bench's own timing. */
const DEFAULT_TIMING: Timing = { leaseMs: 10_000, renewMs: 2000, pollMs: 2000, marginMs: 1000 };

/**
 * For 3 and for `settings.bigCluster` candidates (20 in the full run) at the default timings and the
 * default standby mode: `rounds` times, once every standby waits on the doorbell, SIGTERM the leader
 * and time the successor's granted hook (the `granted` line of bench/candidate.ts); the signalled
 * leader is replaced before the next round.
 */
export async function runHandoverLimit(
  server: BenchServer,
  settings: Settings,
): Promise<HandoverLimitResult> {
  const byCandidates: HandoverLimitResult['byCandidates'][number][] = [];
  let handoverTo: HandoverLimitResult['handoverTo'];
  for (const size of [3, settings.bigCluster]) {
    const table = `handover_${size}_${Date.now()}`;
    const cluster = new Cluster({
      server,
      name: `handover${size}`,
      table,
      elections: 1,
      timing: DEFAULT_TIMING,
      mode: { label: 'default', env: undefined },
    });
    const samples: number[] = [];
    const toSamples: number[] = [];
    let won = 0;
    try {
      await cluster.spawnReady(size);
      for (let r = 0; r < settings.rounds; r++) {
        const leader = await cluster.waitSingleLeader();
        // Every standby has read the lease since the last election and waits on the doorbell; a
        // random part of R passes, so that the signal falls anywhere between two renewals.
        const since = Math.max(leader.lastElectedAt() ?? 0, ...cluster.active.map((c) => c.readyAt ?? 0));
        await sleep(since + 1000 - now());
        await sleep(randomBetween(0, DEFAULT_TIMING.renewMs));
        const term = leader.lines.filter((l) => l.type === 'granted').at(-1)?.term ?? 0;
        const termAt = cluster.signal(leader, 'SIGTERM');
        const granted = await waitUntil(
          () => {
            for (const child of cluster.live) {
              if (child === leader) continue;
              const line = child.lines.find((l) => l.type === 'granted' && (l.term ?? 0) > term);
              if (line) return line;
            }
            return undefined;
          },
          2 * DEFAULT_TIMING.leaseMs,
          'the granted hook of a successor',
          1,
        );
        samples.push(granted.t - termAt);
        await leader.waitExit(15_000);
        await cluster.spawn().then((child) => child.waitReady());
      }
      if (size === 3) {
        // Handover to a chosen candidate: each round names the standby that is not first in the doorbell
        // queue as often as the one that is (round-robin over the standbys).
        for (let r = 0; r < settings.rounds; r++) {
          const leader = await cluster.waitSingleLeader();
          await sleep(
            Math.max(leader.lastElectedAt() ?? 0, ...cluster.active.map((c) => c.readyAt ?? 0)) +
              1000 -
              now(),
          );
          await sleep(randomBetween(0, DEFAULT_TIMING.renewMs));
          const standbys = cluster.active.filter((c) => c !== leader);
          const target = standbys[r % standbys.length];
          const term = leader.lines.filter((l) => l.type === 'granted').at(-1)?.term ?? 0;
          const resigning = await leader.request(`resign-to ${target.candidateId}`, 'resigning');
          const granted = await waitUntil(
            () => {
              for (const child of cluster.live) {
                const line = child.lines.find((l) => l.type === 'granted' && (l.term ?? 0) > term);
                if (line) return { child, line };
              }
              return undefined;
            },
            2 * DEFAULT_TIMING.leaseMs,
            'the granted hook after a handover to a chosen candidate',
            1,
          );
          if (granted.child === target) won++;
          toSamples.push(granted.line.t - resigning.t);
        }
      }
    } finally {
      await cluster.stop();
    }
    const grantedMs = summarize(samples);
    log(
      `  ${size} candidates: SIGTERM to granted hook p50 ${round(grantedMs.p50, 1)} ms, p90 ${round(grantedMs.p90, 1)} ms`,
    );
    byCandidates.push({ candidates: size, grantedMs });
    if (size === 3 && toSamples.length > 0) {
      const toMs = summarize(toSamples);
      handoverTo = { grantedMs: toMs, won, tries: toSamples.length };
      log(
        `  handover to a chosen candidate: named one won ${won}/${toSamples.length}, resign to granted hook p50 ${round(toMs.p50, 1)} ms, p90 ${round(toMs.p90, 1)} ms`,
      );
    }
  }
  const floorMs = await runHandoverFloor(server, settings);
  return { timing: DEFAULT_TIMING, byCandidates, handoverTo, floorMs };
}

/**
 * `rounds` times: a fresh bare standby waits in GET_LOCK while the bare leader holds the row and the
 * lock; after the same idle time as the library's rounds, SIGTERM the leader and time the standby's won
 * compare-and-swap. The winner leads the next round.
 */
async function runHandoverFloor(server: BenchServer, settings: Settings): Promise<Summary> {
  const table = `handover_floor_${Date.now()}`;
  const admin = await server.connect();
  const spawned: BenchChild[] = [];
  const spawn = async (): Promise<BenchChild> => {
    const { user, url } = await server.createUser('f');
    const child = new BenchChild(`floor-${spawned.length}`, user, 'floor-candidate', {
      MYSQL_URL: url,
      TABLE: table,
      LOCK: `bench.${table}`,
    });
    spawned.push(child);
    await child.waitReady();
    return child;
  };
  const samples: number[] = [];
  try {
    await admin.query(
      `CREATE TABLE test.\`${table}\` (name VARCHAR(191) PRIMARY KEY, term BIGINT NOT NULL, ` +
        'holder VARCHAR(191) NOT NULL, expires_at DATETIME(6) NOT NULL) ENGINE=InnoDB',
    );
    await admin.query(`INSERT INTO test.\`${table}\` VALUES ('floor', 0, '', '1970-01-01 00:00:01')`);
    let leader = await spawn();
    await leader.request('lead', 'leading');
    for (let r = 0; r < settings.rounds; r++) {
      const standby = await spawn();
      await standby.request('wait', 'waiting');
      await sleep(1000 + randomBetween(0, DEFAULT_TIMING.renewMs));
      const sent = leader.signal('SIGTERM');
      const granted = await waitUntil(
        () => standby.lines.find((l) => l.type === 'granted' || l.type === 'lost'),
        DEFAULT_TIMING.leaseMs,
        'the bare standby to take over',
        1,
      );
      if (granted.type !== 'granted') throw new Error('the bare standby lost its compare-and-swap');
      samples.push(granted.t - sent);
      await leader.waitExit(5000);
      leader = standby;
    }
  } finally {
    for (const child of spawned) child.forceKill();
    await Promise.all(spawned.map((child) => child.waitExit(5000)));
    await admin.query(`DROP TABLE IF EXISTS test.\`${table}\``).catch(() => undefined);
    await admin.end();
  }
  const floorMs = summarize(samples);
  log(
    `  floor (two bare mysql2 processes): SIGTERM to the won compare-and-swap p50 ${round(floorMs.p50, 1)} ms, p90 ${round(floorMs.p90, 1)} ms`,
  );
  return floorMs;
}
