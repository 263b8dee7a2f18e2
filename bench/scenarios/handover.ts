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
  return { timing: DEFAULT_TIMING, byCandidates, handoverTo };
}
