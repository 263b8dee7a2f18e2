import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { Cluster } from '../lib/cluster';
import type { BenchServer } from '../lib/db';
import type { Mode, Settings, Timing } from '../lib/settings';
import { log, quantile, round, sleep, summarize, waitUntil, type Summary } from '../lib/util';
import { measureCost, type CostResult } from './cost';

/** Run-once (`@LeaderOnly({ once: true })`): start latency, catch-up after a crash, statements. */
export interface OnceResult {
  readonly timing: Timing;
  /** The once-job's period (`@Interval(onceMs)`). */
  readonly onceMs: number;
  /** Steady leader: `started_at - occurrence` of the runs in the window (database clock), ms. */
  readonly startDelayMs: Summary & { readonly p99: number };
  /** Runs started in the steady window. */
  readonly runs: number;
  /** (leader statements with the once-job - leader statements without) / runs, over the same window. */
  readonly statementsPerRun: number;
  /** The same for statements other than SELECT (the claim and the outcome). */
  readonly writesPerRun: number;
  /** Extra SELECTs of the leader with the once-job over the window (the database clock read, once a minute). */
  readonly extraSelects: number;
  /** The steady windows of the cluster with the once-job and of the one without. */
  readonly withOnce: CostResult;
  readonly without: CostResult;
  /** Per SIGKILL of the leader: the first missed occurrence's `started_at` - the old lease's expiry, ms. */
  readonly afterExpiryMs: Summary;
  readonly crashes: number;
  /** Occurrences printed by more than one run, over the whole scenario (every member's output). */
  readonly duplicates: number;
}

/** The once-job's period: short, so that a window holds many runs and a crash misses several. */
const ONCE_MS = 100;

async function dbNow(db: Connection): Promise<string> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT UTC_TIMESTAMP(6) AS now');
  return String(rows[0].now);
}

/**
 * Two 3-candidate clusters at the bench's timing side by side on the main server: one whose app has a
 * `@Interval(100)` once-job (`missed: 'all'`), one without. Over the steady window (USER_STATISTICS per
 * candidate): statements per run on the leader and follower statements, compared; from the runs table,
 * how long after its occurrence each run started. Then SIGKILL rounds on the once cluster: the first
 * missed occurrence's `started_at` against the old lease's `expires_at`, both on the database's clock.
 */
export async function runOnce(server: BenchServer, mode: Mode, settings: Settings): Promise<OnceResult> {
  const stamp = Date.now();
  const table = `once_${stamp}`;
  const runsTable = `once_${stamp}_runs`;
  const timing = settings.timing;
  const once = new Cluster({
    server,
    name: 'once',
    table,
    elections: 1,
    timing,
    mode,
    env: { ONCE_MS: String(ONCE_MS), RUNS_TABLE: runsTable },
  });
  const plain = new Cluster({ server, name: 'plain', table: `plain_${stamp}`, elections: 1, timing, mode });
  const db = await createConnection({ uri: server.url, dateStrings: true, supportBigNumbers: true });
  try {
    await Promise.all([once.spawnReady(3), plain.spawnReady(3)]);
    await Promise.all([once.waitSingleLeader(), plain.waitSingleLeader()]);
    // Past the grant's catch-up and the first renewals.
    await sleep(2 * timing.renewMs + 1000);

    const from = await dbNow(db);
    // Side by side over the same window (a few ms apart): the counts compare as they are.
    const [withOnce, without] = await Promise.all([
      measureCost(server, once, settings.costWindowMs),
      measureCost(server, plain, settings.costWindowMs),
    ]);
    const to = await dbNow(db);
    const [delays] = await db.query<RowDataPacket[]>(
      `SELECT TIMESTAMPDIFF(MICROSECOND, occurrence, started_at) AS us FROM \`${runsTable}\`
       WHERE started_at BETWEEN ? AND ? AND attempt = 1`,
      [from, to],
    );
    const delayMs = delays.map((row) => Number(row.us) / 1000);
    const runs = delayMs.length;
    const extra =
      withOnce.leader && without.leader ? withOnce.leader.statements - without.leader.statements : Number.NaN;
    const statementsPerRun = runs > 0 ? extra / runs : Number.NaN;
    const extraSelects =
      withOnce.leader && without.leader ? withOnce.leader.selects - without.leader.selects : Number.NaN;
    const writesPerRun = runs > 0 ? (extra - extraSelects) / runs : Number.NaN;
    log(
      `  steady: ${runs} runs, start p99 ${round(quantile(delayMs, 0.99), 1)} ms after the occurrence; ` +
        `${round(statementsPerRun, 2)} statements per run (${round(writesPerRun, 2)} writes, ` +
        `${round(extraSelects, 1)} extra SELECTs in the window); follower ${round(withOnce.followerPerSecond.max, 3)}/s ` +
        `with the once-job, ${round(without.followerPerSecond.max, 3)}/s without`,
    );

    const afterExpiry: number[] = [];
    const crashes = Math.min(settings.rounds, 3);
    for (let round_ = 0; round_ < crashes; round_++) {
      const leader = await once.waitSingleLeader();
      await sleep(2 * timing.renewMs);
      const term = leader.lines.filter((l) => l.type === 'elected' && l.election === 'default').at(-1)?.term;
      once.signal(leader, 'SIGKILL');
      await leader.waitExit(15_000);
      // Dead: the row keeps the expiry of its last renewal.
      const row = await server.row(table, 'default');
      if (!row || row.term !== term)
        throw new Error(`once: lease row of term ${term} not found after SIGKILL`);
      const next = await waitUntil(
        () => once.electedAbove('default', row.term),
        2 * timing.leaseMs + timing.pollMs + 10_000,
        'a new leader of the once cluster',
      );
      await sleep(1000);
      const [first] = await db.query<RowDataPacket[]>(
        `SELECT TIMESTAMPDIFF(MICROSECOND, ?, started_at) AS us FROM \`${runsTable}\`
         WHERE term = ? AND started_at IS NOT NULL ORDER BY occurrence LIMIT 1`,
        [row.expiresAt, next.line.term],
      );
      if (first[0]) afterExpiry.push(Number(first[0].us) / 1000);
      await once.spawn().then((child) => child.waitReady());
    }
    const seen = new Map<number, number>();
    for (const child of once.members) {
      for (const line of child.lines) {
        if (line.type !== 'once' || typeof line.occurrence !== 'number') continue;
        seen.set(line.occurrence, (seen.get(line.occurrence) ?? 0) + 1);
      }
    }
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    const afterExpiryMs = summarize(afterExpiry);
    log(
      `  crash: first missed occurrence started ${round(afterExpiryMs.max, 1)} ms (max of ${afterExpiry.length}) ` +
        `after the old lease expired; ${duplicates} occurrences run twice`,
    );
    return {
      timing,
      onceMs: ONCE_MS,
      startDelayMs: { ...summarize(delayMs), p99: quantile(delayMs, 0.99) },
      runs,
      statementsPerRun,
      writesPerRun,
      extraSelects,
      withOnce,
      without,
      afterExpiryMs,
      crashes: afterExpiry.length,
      duplicates,
    };
  } finally {
    await Promise.all([once.stop(), plain.stop()]);
    await db.end().catch(() => undefined);
  }
}
