import type { BenchChild } from '../lib/child';
import { Cluster } from '../lib/cluster';
import { RowMonitor, type BenchServer } from '../lib/db';
import type { Mode, Settings } from '../lib/settings';
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

const ELECTION = 'default';
const SIZE = 3;

export interface FailoverRound {
  /** SIGKILL of the leader to the new leader's `elected` line (both on this host's clock). */
  readonly failoverMs: number;
  /** New leader's acquired_at minus the old lease's expires_at, both on the DB clock. */
  readonly overshootMs: number;
  /** True when the old leader renewed between the read before the kill and the kill. */
  readonly renewedAfterRead: boolean;
  readonly oldTerm: number;
  readonly newTerm: number;
}

export interface FailoverResult {
  readonly rounds: FailoverRound[];
  readonly failoverMs: Summary;
  readonly failoverRatioToL: { readonly p50: number; readonly p90: number; readonly max: number };
  readonly overshootMs: Summary;
  readonly errors: string[];
}

export interface HandoverRound {
  /** SIGTERM of the leader to the new leader's `elected` line. */
  readonly handoverMs: number;
  /** SIGTERM to the old leader's `revoked` line (it stops acting first). */
  readonly revokedMs: number | null;
  /** SIGTERM to the old leader's exit (seen by the bench). */
  readonly exitMs: number | null;
  readonly oldTerm: number;
  readonly newTerm: number;
}

export interface HandoverResult {
  readonly rounds: HandoverRound[];
  readonly handoverMs: Summary;
  readonly errors: string[];
}

export interface FailoverScenario {
  readonly cluster: Cluster;
  readonly monitor: RowMonitor;
  readonly failover: FailoverResult;
  readonly handover: HandoverResult;
  /** When the last round ended (the timeline ends there). */
  readonly roundsEndedAt: number;
}

/**
 * Three candidates; `rounds` times SIGKILL the leader and replace it, then `rounds` times SIGTERM the
 * leader and replace it. The cluster stays up for the steady-state measurement that follows.
 */
export async function runFailoverScenario(
  server: BenchServer,
  mode: Mode,
  settings: Settings,
): Promise<FailoverScenario> {
  const { timing } = settings;
  const table = `lease_failover_${mode.label}`;
  const cluster = new Cluster({ server, name: `failover-${mode.label}`, table, elections: 1, timing, mode });
  const monitor = new RowMonitor(server, table, 50);
  monitor.start();
  await cluster.spawnReady(SIZE);

  const killRounds: FailoverRound[] = [];
  const killErrors: string[] = [];
  for (let attempt = 0; killRounds.length < settings.rounds && attempt < settings.rounds * 2; attempt++) {
    try {
      const leader = await settle(cluster, settings);
      killRounds.push(await killRound(server, cluster, leader, settings));
      const last = killRounds[killRounds.length - 1];
      log(
        `  [${mode.label}] SIGKILL ${killRounds.length}/${settings.rounds}: failover ${round(last.failoverMs)} ms, ` +
          `overshoot ${round(last.overshootMs)} ms`,
      );
    } catch (error) {
      if (isAborted()) throw error;
      killErrors.push(String((error as Error).message ?? error));
      log(`  [${mode.label}] SIGKILL round failed: ${killErrors[killErrors.length - 1]}`);
    }
  }

  const termRounds: HandoverRound[] = [];
  const termErrors: string[] = [];
  for (let attempt = 0; termRounds.length < settings.rounds && attempt < settings.rounds * 2; attempt++) {
    try {
      const leader = await settle(cluster, settings);
      termRounds.push(await termRound(server, cluster, leader, settings));
      const last = termRounds[termRounds.length - 1];
      log(
        `  [${mode.label}] SIGTERM ${termRounds.length}/${settings.rounds}: handover ${round(last.handoverMs)} ms`,
      );
    } catch (error) {
      if (isAborted()) throw error;
      termErrors.push(String((error as Error).message ?? error));
      log(`  [${mode.label}] SIGTERM round failed: ${termErrors[termErrors.length - 1]}`);
    }
  }

  const failoverMs = summarize(killRounds.map((r) => r.failoverMs));
  return {
    cluster,
    monitor,
    roundsEndedAt: now(),
    failover: {
      rounds: killRounds,
      failoverMs,
      failoverRatioToL: {
        p50: failoverMs.p50 / timing.leaseMs,
        p90: failoverMs.p90 / timing.leaseMs,
        max: failoverMs.max / timing.leaseMs,
      },
      overshootMs: summarize(killRounds.map((r) => r.overshootMs)),
      errors: killErrors,
    },
    handover: {
      rounds: termRounds,
      handoverMs: summarize(termRounds.map((r) => r.handoverMs)),
      errors: termErrors,
    },
  };
}

/**
 * Brings the cluster back to three ready candidates with one leader, lets every follower read the row at
 * least once since, then waits a random part of R so that the signal falls anywhere in the renew cycle.
 */
export async function settle(cluster: Cluster, settings: Settings): Promise<BenchChild> {
  const { renewMs, pollMs } = settings.timing;
  for (let attempt = 0; attempt < 5; attempt++) {
    const missing = SIZE - cluster.active.length;
    for (let i = 0; i < missing; i++) await cluster.spawn();
    await Promise.all(cluster.active.map((child) => child.waitReady()));
    const leader = await cluster.waitSingleLeader(ELECTION);
    const since = Math.max(
      leader.lastElectedAt(ELECTION) ?? 0,
      ...cluster.active.map((child) => child.readyAt ?? 0),
    );
    await sleep(since + pollMs + 150 - now());
    await sleep(randomBetween(0, renewMs));
    const leaders = cluster.leaders(ELECTION);
    if (leaders.length === 1 && leaders[0] === leader && cluster.active.length === SIZE) return leader;
  }
  throw new Error(`${cluster.options.name}: no stable leader with ${SIZE} candidates after 5 attempts`);
}

async function killRound(
  server: BenchServer,
  cluster: Cluster,
  leader: BenchChild,
  settings: Settings,
): Promise<FailoverRound> {
  const { table } = cluster.options;
  const { leaseMs, pollMs } = settings.timing;
  const before = await server.row(table, ELECTION);
  if (!before || before.holder !== leader.candidateId || !before.valid) {
    throw new Error(`the row does not show ${leader.label} as holder before the kill`);
  }
  const killedAt = cluster.signal(leader, 'SIGKILL');
  await leader.waitExit(5000);
  // A renewal sent just before the kill may still be applied by the server: give it a moment, then read
  // the old lease's final expiry. Nobody can take over before that expiry, so this read is exact.
  await sleep(30);
  const after = await server.row(table, ELECTION);
  if (!after || after.term !== before.term || after.holder !== before.holder) {
    throw new Error(`the lease changed hands within 30 ms of the kill (term ${after?.term})`);
  }
  const elected = await waitUntil(
    () => cluster.electedAbove(ELECTION, before.term),
    2 * leaseMs + pollMs + 5000,
    'a new leader after SIGKILL',
  );
  const row = await server.row(table, ELECTION);
  if (!row || row.term !== elected.line.term || row.holder !== elected.child.candidateId) {
    throw new Error(
      `the row (term ${row?.term}) does not match the elected line (term ${elected.line.term})`,
    );
  }
  const overshootUs = await server.diffUs(after.expiresAt, row.acquiredAt);
  return {
    failoverMs: elected.line.t - killedAt,
    overshootMs: overshootUs / 1000,
    renewedAfterRead: after.expiresAt !== before.expiresAt,
    oldTerm: before.term,
    newTerm: row.term,
  };
}

async function termRound(
  server: BenchServer,
  cluster: Cluster,
  leader: BenchChild,
  settings: Settings,
): Promise<HandoverRound> {
  const { table } = cluster.options;
  const { leaseMs, pollMs } = settings.timing;
  const before = await server.row(table, ELECTION);
  if (!before || before.holder !== leader.candidateId || !before.valid) {
    throw new Error(`the row does not show ${leader.label} as holder before SIGTERM`);
  }
  const from = leader.lines.length;
  const termAt = cluster.signal(leader, 'SIGTERM');
  const elected = await waitUntil(
    () => cluster.electedAbove(ELECTION, before.term),
    2 * leaseMs + pollMs + 5000,
    'a new leader after SIGTERM',
  );
  await leader.waitExit(15_000);
  const revoked = leader.lines.slice(from).find((l) => l.type === 'revoked' && l.election === ELECTION);
  return {
    handoverMs: elected.line.t - termAt,
    revokedMs: revoked ? revoked.t - termAt : null,
    exitMs: leader.exitedAt === undefined ? null : leader.exitedAt - termAt,
    oldTerm: before.term,
    newTerm: elected.line.term ?? 0,
  };
}
