// nestjs-leader-election/testing: the module for users' unit tests, without a database.
export { LeaderElectionTesting } from './leader-election-testing';
export {
  LeaderElectionTestingModule,
  type LeaderElectionTestingOptions,
} from './leader-election-testing.module';
