// The app of the idle-cost rows: a Nest HTTP server with two 1 s intervals, with the leader election
// module (WITH_MODULE=1, default options but the connection and table) or without it.
// Run by bench/lib/child.ts like bench/candidate.ts. Env: MYSQL_URL, TABLE, CANDIDATE_ID, WITH_MODULE.
// Prints {"type":"ready"} after listen(); with the module, election events as bench/candidate.ts does.
// Commands on stdin: `cpu` prints CPU time so far (read before) and RSS after two full GCs ({"type":"cpu"}).
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LeaderElectionModule, LeaderElectionService } from 'nestjs-leader-election';
import { readCommands } from './lib/commands';

const now = (): number => performance.timeOrigin + performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: now() })}\n`);
};
const withModule = process.env.WITH_MODULE === '1';

@Controller()
class PingController {
  @Get('ping')
  ping(): string {
    return 'pong';
  }
}

/** Two 1 s intervals doing a little work, as a typical app's jobs. */
@Injectable()
class Jobs {
  count = 0;

  @Interval(1000)
  tick(): void {
    this.count++;
  }

  @Interval(1000)
  tock(): void {
    this.count += 2;
  }
}

/** Prints election events (the bench waits for a leader before measuring). */
@Injectable()
class EventPrinter implements OnModuleInit {
  constructor(private readonly service: LeaderElectionService) {}

  onModuleInit(): void {
    this.service.changes$.subscribe((event) =>
      print({ type: event.type, election: event.election, term: event.term, role: event.state.role }),
    );
  }
}

const election: DynamicModule[] = withModule
  ? [
      LeaderElectionModule.forRoot({
        connection: process.env.MYSQL_URL ?? '',
        tableName: process.env.TABLE,
        candidateId: process.env.CANDIDATE_ID,
      }),
    ]
  : [];

@Module({
  imports: [ScheduleModule.forRoot(), ...election],
  controllers: [PingController],
  providers: [Jobs, ...(withModule ? [EventPrinter] : [])],
})
class IdleAppModule {}

/**
 * CPU time used so far (`cpuMs`), then two full GCs for the RSS, and the CPU time after them
 * (`cpuAfterGcMs`): a window measured from one report's `cpuAfterGcMs` to the next one's `cpuMs` leaves
 * out the forced collections, whose cost grows with the heap and would be counted against the module.
 */
async function reportCpu(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const before = cpuMs();
  if (gc) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  print({ type: 'cpu', cpuMs: before, cpuAfterGcMs: cpuMs(), rss: process.memoryUsage().rss });
}

async function main(): Promise<void> {
  readCommands((command) => {
    if (command === 'cpu') void reportCpu();
  });
  const app = await NestFactory.create(IdleAppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const candidateId = withModule ? app.get(LeaderElectionService).candidateId : `bare-${process.pid}`;
  print({ type: 'ready', candidateId, pid: process.pid });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench idle app failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
