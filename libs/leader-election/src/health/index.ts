// `nestjs-leader-election/health`: the Terminus integration, apart from the main entry so that apps
// without @nestjs/terminus never load it.
export { LeaderElectionHealthModule } from './leader-election-health.module';
export {
  LeaderElectionHealthIndicator,
  type LeaderElectionHealthDetails,
  type LeaderElectionHealthOptions,
} from './leader-election.health';
