import { Module, type DynamicModule } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { LeaderElectionModule } from 'nestjs-leader-election';
import { LeaderElectionHealthModule } from 'nestjs-leader-election/health';
import { DemoController } from './demo.controller';
import { DEMO_CONFIG, type DemoConfig } from './demo.config';
import { DemoJobs } from './demo.jobs';
import { DemoLedger } from './demo.ledger';

/** The demo service: one election, a leader-only job writing a fenced ledger, health and state endpoints. */
@Module({})
export class AppModule {
  static register(config: DemoConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({
          connection: config.mysqlUrl,
          candidateId: config.candidateId,
          tableName: config.tableName,
          runsTableName: config.runsTable,
          ...config.timing,
        }),
        TerminusModule,
        LeaderElectionHealthModule,
      ],
      controllers: [DemoController],
      providers: [{ provide: DEMO_CONFIG, useValue: config }, DemoLedger, DemoJobs],
    };
  }
}
