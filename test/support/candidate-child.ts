// A candidate in its own OS process, for tests that need real processes (faketime, signals).
// Configured by env: MYSQL_URL, TABLE, CANDIDATE_ID, LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS, and
// SHUTDOWN_HOOKS=0 to leave app.enableShutdownHooks() out (as a user who forgot it), and
// BALANCED=prefix:count for a balanced group instead of the default election, and SLOW_DESTROY_MS=n for
// an app provider whose onModuleDestroy takes n ms (another module's slow shutdown work).
// Prints one JSON line per election event, then {"type":"ready"} after bootstrap.
import 'reflect-metadata';
import { Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LeaderElectionModule, LeaderElectionService } from 'nestjs-leader-election';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`candidate-child: ${name} is required`);
  return value;
};

function balanced(): { elections?: { prefix: string; count: number } } {
  const spec = process.env.BALANCED;
  if (!spec) return {};
  const at = spec.lastIndexOf(':');
  return { elections: { prefix: spec.slice(0, at), count: Number(spec.slice(at + 1)) } };
}

/** The app's own shutdown work: Nest runs the root module's hooks before those of the modules it imports. */
@Injectable()
class SlowDestroy implements OnModuleDestroy {
  async onModuleDestroy(): Promise<void> {
    const ms = Number(process.env.SLOW_DESTROY_MS ?? '0');
    process.stdout.write(`${JSON.stringify({ type: 'app-destroy-start', wall: Date.now() })}\n`);
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

@Module({
  providers: process.env.SLOW_DESTROY_MS ? [SlowDestroy] : [],
  imports: [
    LeaderElectionModule.forRoot({
      connection: env('MYSQL_URL'),
      tableName: env('TABLE'),
      candidateId: env('CANDIDATE_ID', 'child'),
      ...balanced(),
      leaseDurationMs: Number(env('LEASE_MS', '2000')),
      renewIntervalMs: Number(env('RENEW_MS', '400')),
      pollIntervalMs: Number(env('POLL_MS', '400')),
      safetyMarginMs: Number(env('MARGIN_MS', '400')),
    }),
  ],
})
class ChildModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ChildModule, { logger: ['error', 'warn'] });
  if (process.env.SHUTDOWN_HOOKS !== '0') app.enableShutdownHooks();
  const service = app.get(LeaderElectionService);
  const print = (line: object) => process.stdout.write(`${JSON.stringify({ ...line, wall: Date.now() })}\n`);
  service.changes$.subscribe((event) =>
    print({
      type: event.type,
      election: event.election,
      term: event.term,
      role: event.state.role,
      leaderId: event.state.leaderId,
    }),
  );
  print({ type: 'ready', candidateId: service.candidateId });
}

void main();
