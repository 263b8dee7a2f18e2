// A process with `@LeaderOnly({ once: true })` jobs, for the run-once acceptance tests (real processes,
// signals, faketime). Configured by env: MYSQL_URL, TABLE, RUNS_TABLE, EFFECTS_TABLE, CANDIDATE_ID,
// LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS, and ONCE_JOBS: a JSON array of
// { job, interval?: ms, cron?: expression, missed?, recover?, maxCatchUp?, busyMs? }.
// Each run appends (job, occurrence, instance) to EFFECTS_TABLE without any fence, so that a duplicate
// run would show. Prints one JSON line per election event and per run start, and {"type":"ready"}.
import 'reflect-metadata';
import { Inject, Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cron, Interval, ScheduleModule } from '@nestjs/schedule';
import { createPool } from 'mysql2/promise';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  type MissedPolicy,
} from 'nestjs-leader-election';

interface JobSpec {
  readonly job: string;
  readonly interval?: number;
  readonly cron?: string;
  readonly missed?: MissedPolicy;
  readonly recover?: boolean;
  readonly maxCatchUp?: number;
  readonly busyMs?: number;
}

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`once-child: ${name} is required`);
  return value;
};
const print = (line: object) => process.stdout.write(`${JSON.stringify({ ...line, wall: Date.now() })}\n`);

const effects = createPool({ uri: env('MYSQL_URL'), connectionLimit: 2 });
const effectsTable = env('EFFECTS_TABLE');
const specs = JSON.parse(env('ONCE_JOBS')) as JobSpec[];

/** One provider per job, decorated programmatically with its schedule and once options. */
function jobProvider(spec: JobSpec): Type {
  @Injectable()
  class OnceJob {
    constructor(@Inject(LeaderElectionService) private readonly leaderElection: LeaderElectionService) {}
    async run(): Promise<void> {
      const { occurrence, term } = this.leaderElection.currentLeadership()!;
      const at = occurrence!.getTime();
      print({ type: 'run', job: spec.job, occurrence: at, term });
      await effects.query(`INSERT INTO \`${effectsTable}\` (job, occurrence, instance) VALUES (?, ?, ?)`, [
        spec.job,
        at,
        this.leaderElection.candidateId,
      ]);
      if (spec.busyMs) await new Promise((resolve) => setTimeout(resolve, spec.busyMs));
    }
  }
  Object.defineProperty(OnceJob, 'name', { value: `Job_${spec.job}` });
  const proto = OnceJob.prototype as unknown as Record<string, unknown>;
  const descriptor = Object.getOwnPropertyDescriptor(proto, 'run')!;
  const schedule = spec.cron !== undefined ? Cron(spec.cron) : Interval(spec.interval!);
  const leaderOnly = LeaderOnly({
    once: true,
    job: spec.job,
    missed: spec.missed ?? 'all',
    recover: spec.recover ?? false,
    maxCatchUp: spec.maxCatchUp ?? 1_000,
  });
  for (const decorate of [leaderOnly, schedule]) decorate(proto, 'run', descriptor);
  Object.defineProperty(proto, 'run', descriptor);
  return OnceJob;
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    LeaderElectionModule.forRoot({
      connection: env('MYSQL_URL'),
      tableName: env('TABLE'),
      runsTableName: env('RUNS_TABLE'),
      candidateId: env('CANDIDATE_ID', 'child'),
      leaseDurationMs: Number(env('LEASE_MS', '1500')),
      renewIntervalMs: Number(env('RENEW_MS', '300')),
      pollIntervalMs: Number(env('POLL_MS', '300')),
      safetyMarginMs: Number(env('MARGIN_MS', '300')),
      drainTimeoutMs: 3_000,
    }),
  ],
  providers: specs.map(jobProvider),
})
class OnceChildModule {}

async function main(): Promise<void> {
  await effects.query('SELECT 1'); // open the side-effect connection before any run needs it
  const app = await NestFactory.createApplicationContext(OnceChildModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const service = app.get(LeaderElectionService);
  service.changes$.subscribe((event) =>
    print({ type: event.type, term: event.term, role: event.state.role }),
  );
  process.once('beforeExit', () => void effects.end());
  print({ type: 'ready', candidateId: service.candidateId });
}

void main();
