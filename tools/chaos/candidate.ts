// One chaos candidate in its own OS process (modelled on bench/candidate.ts), run by tools/chaos/run.ts as
// `node -r tools/register-ts.js tools/chaos/candidate.ts`.
//
// Env: MYSQL_URL (through this candidate's fault proxy), TABLE, LEDGER_TABLE, CANDIDATE_ID (prefix),
//      LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS, WRITE_MS (fenced ledger write interval, default 100);
//      LEASE_URLS (Galera mode): the nodes, comma-separated, each through this candidate's fault proxy to
//      it, passed as the library's `connection` list (MYSQL_URL, one of them, is then the ledger's and the
//      once-job's record's node).
// Prints one JSON line per event, each with `mono`: this process's monotonic clock in ms
// (process.hrtime; under libfaketime it is shifted, the harness converts it to its own time base):
//   {"type":"ready"}                          after bootstrap, with candidateId and pid
//   {"type":"elected"|"revoked", term}         the election's transitions
//   {"type":"lease", term, validUntil}         every confirmed acquisition or renewal: `validUntil` is the
//                                             end of this process's belief (t_send + L - M), same clock
//   {"type":"tick"}                           every 250 ms, so the harness can estimate the clock offset
//   {"type":"node", node}                     with LEASE_URLS: the node (0-based) lease traffic goes to, at
//                                             the start and whenever it moved (looked at every tick)
// Fenced writes: while leader, every WRITE_MS one row (term, holder) into LEDGER_TABLE through runFenced.
// Exits at once when stdin ends, so that a crashed harness never leaves candidates behind.
import 'reflect-metadata';
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { NestFactory } from '@nestjs/core';
import { Kysely, MysqlDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import { LeaderElectionModule, LeaderElectionService, LeaderOnly } from 'nestjs-leader-election';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`chaos candidate: ${name} is required`);
  return value;
};

/** Monotonic ms of this process (the clock the elector's `performance.now()` also reads). */
const mono = (): number => Number(process.hrtime.bigint()) / 1e6;
/** performance.now() (the elector's clock) to `mono()`: the same clock, another origin. */
const perfToMono = mono() - performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, mono: mono() })}\n`);
};

const ELECTION = 'default';
const url = env('MYSQL_URL');
const ledgerTable = env('LEDGER_TABLE');
const writeMs = Number(env('WRITE_MS', '100'));
const runsTable = env('RUNS_TABLE');
/** Galera mode: the node list for the library (each node through this candidate's proxy to it). */
const leaseUrls = process.env.LEASE_URLS ? process.env.LEASE_URLS.split(',') : undefined;

/** One pool for the once-job's own record of its executions (not fenced: it records what ran). */
const runsPool = createPool({ uri: url, connectionLimit: 1, connectTimeout: 2_000 }).promise();

/**
 * A run-once job every 500 ms: each execution appends (occurrence, term, holder) to RUNS_TABLE, a table
 * without a unique key, so that an occurrence run twice shows as two rows.
 */
@Injectable()
class OnceJob {
  constructor(private readonly service: LeaderElectionService) {}

  @Interval(500)
  @LeaderOnly({ once: true, missed: 'skip' })
  async tick(): Promise<void> {
    const leadership = this.service.currentLeadership();
    if (!leadership?.occurrence) return;
    await runsPool
      .query(`INSERT INTO ${runsTable} (job, occurrence, term, holder) VALUES ('tick', ?, ?, ?)`, [
        leadership.occurrence.toISOString(),
        leadership.term,
        this.service.candidateId,
      ])
      .catch(() => undefined);
  }
}

/** The private parts of the library's Election this harness instruments (exact renewal times). */
interface ElectionInternals {
  /** The leader's step: renews, and confirms acquisitions and renewals. */
  leader?: { confirmLease(term: number, tSend: number): void };
  /** The leadership held (undefined while draining or following), with the end of its validity. */
  held?: { term: number; validUntil: number };
}

/**
 * Prints every election event and every confirmed lease. Subscribed before bootstrap, so that the first
 * election is never missed. Renewals are not events of the public API: the election's private
 * `leader.confirmLease` is wrapped (fails loudly when the library renamed it, rather than check less).
 */
@Injectable()
class Recorder implements OnModuleInit {
  constructor(private readonly service: LeaderElectionService) {}

  onModuleInit(): void {
    const elector = (this.service as unknown as { elector: { election(name: string): unknown } }).elector;
    const election = elector.election(ELECTION) as ElectionInternals | undefined;
    const step = election?.leader;
    if (!election || !step || typeof step.confirmLease !== 'function' || !('held' in election)) {
      throw new Error(
        'chaos candidate: the Election internals (leader.confirmLease, held) changed; update me',
      );
    }
    const confirm = step.confirmLease.bind(step);
    step.confirmLease = (term: number, tSend: number) => {
      confirm(term, tSend);
      // A renewal while draining (no leadership held) gives no belief.
      const held = election.held;
      if (held?.term === term) print({ type: 'lease', term, validUntil: held.validUntil + perfToMono });
    };
    this.service.changes$.subscribe((event) => {
      if (event.type !== 'elected' && event.type !== 'revoked') return;
      print({ type: event.type, term: event.term, reason: event.reason });
    });
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot() as never,
    LeaderElectionModule.forRoot({
      connection: leaseUrls ?? url,
      tableName: env('TABLE'),
      candidateId: env('CANDIDATE_ID', 'chaos'),
      leaseDurationMs: Number(env('LEASE_MS', '2000')),
      renewIntervalMs: Number(env('RENEW_MS', '400')),
      pollIntervalMs: Number(env('POLL_MS', '400')),
      safetyMarginMs: Number(env('MARGIN_MS', '400')),
    }),
  ],
  providers: [Recorder, OnceJob],
})
class CandidateModule {}

interface LedgerDatabase {
  [table: string]: { id: number; term: number; holder: string };
}

/** While leader, appends one ledger row per `writeMs` through runFenced; one write at a time. */
function startLedgerWrites(service: LeaderElectionService): { stop(): Promise<void> } {
  const db = new Kysely<LedgerDatabase>({
    dialect: new MysqlDialect({ pool: createPool({ uri: url, connectionLimit: 2, connectTimeout: 2_000 }) }),
  });
  let stopped = false;
  let writing: Promise<void> = Promise.resolve();
  const write = async () => {
    try {
      await service.runFenced(db, async (trx, { term }) => {
        await sql`INSERT INTO ${sql.table(ledgerTable)} (term, holder) VALUES (${term}, ${service.candidateId})`.execute(
          trx,
        );
      });
    } catch {
      // Not leader any more, or the database unreachable: the fence refused, which is its job.
    }
  };
  const timer = setInterval(() => {
    if (stopped || !service.isLeader()) return;
    writing = writing.then(write);
  }, writeMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await writing;
      await db.destroy();
    },
  };
}

/**
 * Reads the node the lease store's pool sends lease traffic to now (the library's private
 * `elector.store.pool.currentNode`; fails loudly when it was renamed, rather than report no node).
 */
function leaseNodeOf(service: LeaderElectionService): () => number {
  // The elector's store may wrap the MySQL store (batching, the leadership history): follow `inner`.
  type Layer = { inner?: Layer; pool?: { currentNode?: unknown } };
  let store = (service as unknown as { elector: { store?: Layer } }).elector.store;
  for (let depth = 0; store && !store.pool && depth < 5; depth++) store = store.inner;
  const pool = store?.pool;
  if (!pool || typeof pool.currentNode !== 'number') {
    throw new Error('chaos candidate: the lease store internals (store.pool.currentNode) changed; update me');
  }
  return () => pool.currentNode as number;
}

async function main(): Promise<void> {
  process.stdin.on('data', () => undefined);
  // The harness went away: leave with it.
  process.stdin.on('end', () => process.exit(0));
  const app = await NestFactory.createApplicationContext(CandidateModule, { logger: ['error'] });
  app.enableShutdownHooks();
  const service = app.get(LeaderElectionService);
  const ledger = startLedgerWrites(service);
  // Stop writing before the library releases the lease at shutdown.
  process.once('SIGTERM', () => void ledger.stop());
  const leaseNode = leaseUrls ? leaseNodeOf(service) : undefined;
  let node: number | undefined;
  setInterval(() => {
    print({ type: 'tick' });
    const current = leaseNode?.();
    if (current !== undefined && current !== node) {
      node = current;
      print({ type: 'node', node });
    }
  }, 250).unref();
  print({ type: 'ready', candidateId: service.candidateId, pid: process.pid });
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos candidate failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
