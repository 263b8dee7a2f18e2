// One benchmark candidate in its own OS process (modelled on test/support/candidate-child.ts).
// Run by bench/lib/child.ts as `node --expose-gc -r tools/register-ts.js bench/candidate.ts`.
//
// Env: LEADER_ELECTION_TRACE=1 (handover trace lines), TIMER_TRACE=1 (timer callbacks counted for `cpu`),
//      MYSQL_URL, TABLE, CANDIDATE_ID (prefix), LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS,
//      ELECTIONS (how many: 1 = the election "default", n > 1 = "e0".."e<n-1>"),
//      STANDBY_MODE (optional: passed as the module option `standbyMode` only when set),
//      ONCE_MS (optional: adds a `@Interval(ONCE_MS)` `@LeaderOnly({ once: true, missed: 'all' })` job that
//      prints {"type":"once","occurrence":<ms>} per run), RUNS_TABLE (the module option `runsTableName`),
//      BALANCED (optional, `prefix:count`: a balanced group instead of ELECTIONS).
// Prints one JSON line per election event ({"type":"elected",...}), then {"type":"ready"} after bootstrap.
// Commands on stdin, one per line: `heap` prints heap and RSS after two full GCs ({"type":"heap"}),
// `cpu` prints CPU time used so far and RSS ({"type":"cpu"}); `profile <file>` starts a CPU profile,
// `profile-stop` writes it to that file ({"type":"profiled"}); `resign-to <candidate id>` prints
// {"type":"resigning"} and hands the first election to that candidate ({"type":"resigned","ok":...}).
// Exits at once when stdin ends, so that a crashed bench never leaves candidates behind.
import 'reflect-metadata';
import { createHook } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  OnLeadershipGranted,
  type LeaderElectionModuleOptions,
  type LeadershipChange,
} from 'nestjs-leader-election';
import { readCommands } from './lib/commands';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`bench candidate: ${name} is required`);
  return value;
};

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of this host. */
const now = (): number => performance.timeOrigin + performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: now() })}\n`);
};

const electionCount = Number(env('ELECTIONS', '1'));
const balanced = process.env.BALANCED?.split(':');
const standbyMode = process.env.STANDBY_MODE;
const options: LeaderElectionModuleOptions = {
  connection: env('MYSQL_URL'),
  tableName: env('TABLE'),
  candidateId: env('CANDIDATE_ID', 'bench'),
  leaseDurationMs: Number(env('LEASE_MS', '10000')),
  renewIntervalMs: Number(env('RENEW_MS', '2000')),
  pollIntervalMs: Number(env('POLL_MS', '2000')),
  safetyMarginMs: Number(env('MARGIN_MS', '1000')),
  ...(electionCount > 1 ? { elections: Array.from({ length: electionCount }, (_, i) => `e${i}`) } : {}),
  ...(balanced ? { elections: [{ prefix: balanced[0], count: Number(balanced[1]) }] } : {}),
  // Only when asked for, so that a run without STANDBY_MODE measures the library's default.
  ...(standbyMode ? { standbyMode: standbyMode as LeaderElectionModuleOptions['standbyMode'] } : {}),
  ...(process.env.RUNS_TABLE ? { runsTableName: process.env.RUNS_TABLE } : {}),
};
const onceMs = Number(process.env.ONCE_MS ?? '0');

/** Prints every election event; subscribed before bootstrap, so that the first election is never missed. */
@Injectable()
class EventPrinter implements OnModuleInit {
  constructor(private readonly service: LeaderElectionService) {}

  onModuleInit(): void {
    this.service.changes$.subscribe((event) =>
      print({
        type: event.type,
        election: event.election,
        term: event.term,
        role: event.state.role,
        leaderId: event.state.leaderId,
      }),
    );
  }
}

/** The user's view of a handover: the granted hook of every election (`{"type":"granted"}`). */
@Injectable()
class GrantedHook {
  @OnLeadershipGranted()
  onGranted(change: LeadershipChange): void {
    print({ type: 'granted', election: change.election, term: change.term });
  }
}

/** With ONCE_MS: a run-once job that prints the occurrence it runs for (`{"type":"once"}`). */
@Injectable()
class OnceJob {
  constructor(private readonly service: LeaderElectionService) {}

  @Interval(onceMs || 1000)
  @LeaderOnly({ once: true, missed: 'all' })
  run(): void {
    print({ type: 'once', occurrence: this.service.currentLeadership()?.occurrence?.getTime() });
  }
}

@Module({
  imports: [LeaderElectionModule.forRoot(options), ...(onceMs > 0 ? [ScheduleModule.forRoot()] : [])],
  providers: [EventPrinter, GrantedHook, ...(onceMs > 0 ? [OnceJob] : [])],
})
class CandidateModule {}

async function reportHeap(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  const memory = process.memoryUsage();
  print({
    type: 'heap',
    gc: gc !== undefined,
    heapUsed: memory.heapUsed,
    rss: memory.rss,
    // resourceUsage().maxRSS is in kilobytes.
    maxRss: process.resourceUsage().maxRSS * 1024,
  });
}

/** With TIMER_TRACE=1: where each timer and immediate callback of this process was created, and how often it ran. */
const timerRuns = new Map<string, number>();
if (process.env.TIMER_TRACE === '1') {
  const origins = new Map<number, string>();
  createHook({
    init(id, type) {
      if (type !== 'Timeout' && type !== 'Immediate' && type !== 'TIMERWRAP') return;
      const stack = (new Error().stack ?? '').split('\n').slice(3, 9);
      const frame = stack.filter((line) => !line.includes('node:internal')).slice(0, 3);
      origins.set(id, `${type} ${frame.map((line) => line.trim()).join(' < ')}`);
    },
    before(id) {
      const origin = origins.get(id);
      if (origin) timerRuns.set(origin, (timerRuns.get(origin) ?? 0) + 1);
    },
    destroy(id) {
      origins.delete(id);
    },
  }).enable();
}

function reportCpu(): void {
  const { user, system } = process.cpuUsage();
  print({
    type: 'cpu',
    cpuMs: (user + system) / 1000,
    rss: process.memoryUsage().rss,
    timers: Object.fromEntries(timerRuns),
  });
}

/** `profile <file>`: CPU profile from now; `profile-stop`: writes it (a .cpuprofile for Chrome DevTools). */
let profiler: Session | undefined;
function profile(command: string): void {
  if (command.startsWith('profile ')) {
    profiler = new Session();
    profiler.connect();
    // Every 100 us (the default is about 1 ms): an idle process runs too little for coarser samples.
    profiler.post('Profiler.enable', () =>
      profiler?.post('Profiler.setSamplingInterval', { interval: 100 }, () =>
        profiler?.post('Profiler.start'),
      ),
    );
    profileFile = command.slice('profile '.length);
    return;
  }
  profiler?.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(profileFile, JSON.stringify(result.profile));
    profiler?.disconnect();
    profiler = undefined;
    print({ type: 'profiled', file: profileFile });
  });
}
let profileFile = '';

let service: LeaderElectionService | undefined;

/** `resign-to <id>`: resign(election, { to: id }) of the first election, timed from the line before it. */
function resignTo(to: string): void {
  if (!service) return;
  const election = service.settings.elections[0];
  print({ type: 'resigning', election, to });
  service.resign(election, { to }).then(
    (ok) => print({ type: 'resigned', election, ok }),
    (error: unknown) => print({ type: 'resigned', election, ok: false, error: String(error) }),
  );
}

function listen(): void {
  readCommands((command) => {
    if (command === 'heap') void reportHeap();
    if (command === 'cpu') reportCpu();
    if (command.startsWith('profile')) profile(command);
    if (command.startsWith('resign-to ')) resignTo(command.slice('resign-to '.length));
  });
}

async function main(): Promise<void> {
  listen();
  // Registered before Nest's own listener, so it runs first: the start of a graceful handover.
  if (process.env.LEADER_ELECTION_TRACE === '1')
    process.on('SIGTERM', () => print({ type: 'trace', step: 'SIGTERM' }));
  const app = await NestFactory.createApplicationContext(CandidateModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const started = app.get(LeaderElectionService);
  service = started;
  print({ type: 'ready', candidateId: started.candidateId, pid: process.pid });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench candidate failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
