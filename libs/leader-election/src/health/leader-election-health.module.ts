import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LeaderElectionHealthIndicator } from './leader-election.health';

/**
 * Provides `LeaderElectionHealthIndicator`. Needs `LeaderElectionModule.forRoot()` registered globally
 * (the default); with `isGlobal: false`, provide the indicator yourself in a module that imports both.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     LeaderElectionModule.forRoot({ connection: process.env.MYSQL_URL! }),
 *     TerminusModule,
 *     LeaderElectionHealthModule,
 *   ],
 *   controllers: [HealthController],
 * })
 * export class AppModule {}
 * ```
 */
@Module({
  imports: [TerminusModule],
  providers: [LeaderElectionHealthIndicator],
  exports: [LeaderElectionHealthIndicator],
})
export class LeaderElectionHealthModule {}
