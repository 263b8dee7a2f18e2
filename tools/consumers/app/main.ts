// A small service as a user would write it against the published package: compiled by `tsc` inside a
// consumer project (ESM Nest 12 or CommonJS Nest 11) by tools/consumers/check.ts, then run twice.
// One file, no relative imports, so the same source builds as ESM and as CommonJS.
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Kysely, MysqlDialect, type Generated } from 'kysely';
import { createPool } from 'mysql2';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  NotLeaderError,
} from 'nestjs-leader-election';
import { LeaderElectionHealthIndicator, LeaderElectionHealthModule } from 'nestjs-leader-election/health';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const INSTANCE = process.env.INSTANCE ?? 'instance';

interface Database {
  consumer_ledger: { id: Generated<number>; term: number; instance: string; kind: string };
}

@Injectable()
class LedgerJobs implements OnModuleDestroy {
  private readonly db = new Kysely<Database>({
    dialect: new MysqlDialect({ pool: createPool({ uri: MYSQL_URL, connectionLimit: 2 }) }),
  });

  constructor(private readonly leaderElection: LeaderElectionService) {}

  @Interval(300)
  @LeaderOnly()
  async appendToLedger(): Promise<void> {
    try {
      await this.leaderElection.runFenced(this.db, async (trx, { term }) => {
        await trx
          .insertInto('consumer_ledger')
          .values({ term, instance: INSTANCE, kind: 'runFenced' })
          .execute();
      });
      await this.db.transaction().execute(async (trx) => {
        const { term } = await this.leaderElection.assertLeader(trx);
        await trx
          .insertInto('consumer_ledger')
          .values({ term, instance: INSTANCE, kind: 'assertLeader' })
          .execute();
      });
    } catch (error) {
      if (!(error instanceof NotLeaderError)) throw error;
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.db.destroy();
  }
}

@Controller()
class StatusController {
  constructor(
    private readonly leaderElection: LeaderElectionService,
    private readonly health: HealthCheckService,
    private readonly leaderHealth: LeaderElectionHealthIndicator,
  ) {}

  @Get('leader')
  leader() {
    const { role, term, candidateId } = this.leaderElection.getState();
    return { leader: this.leaderElection.isLeader(), role, term, candidateId, instance: INSTANCE };
  }

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.leaderHealth.isHealthy('leaderElection')]);
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    LeaderElectionModule.forRoot({
      connection: MYSQL_URL,
      candidateId: INSTANCE,
      leaseDurationMs: 3_000,
      renewIntervalMs: 600,
      pollIntervalMs: 600,
      safetyMarginMs: 600,
    }),
    TerminusModule,
    LeaderElectionHealthModule,
  ],
  controllers: [StatusController],
  providers: [LedgerJobs],
})
class AppModule {}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
  console.log(`consumer ready: ${INSTANCE} on port ${process.env.PORT}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
