import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { LeaderElectionExplorer } from './leader-election.explorer';
import { LeaderElectionMetadataAccessor } from './leader-election.metadata-accessor';
import { ConfigurableModuleClass } from './leader-election.module-definition';
import { LeaderElectionOrchestrator } from './leader-election.orchestrator';
import { leaderElectionProviders } from './leader-election.providers';
import { LeaderElectionService } from './leader-election.service';

/**
 * Elects one leader among the instances of a service, on a lease row in its MySQL/MariaDB database.
 *
 * @example
 * @Module({
 *   imports: [
 *     LeaderElectionModule.forRoot({ connection: process.env.MYSQL_URL! }),
 *   ],
 * })
 * export class AppModule {}
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    ...leaderElectionProviders,
    LeaderElectionMetadataAccessor,
    LeaderElectionOrchestrator,
    LeaderElectionExplorer,
    LeaderElectionService,
  ],
  exports: [LeaderElectionService],
})
export class LeaderElectionModule extends ConfigurableModuleClass {}
