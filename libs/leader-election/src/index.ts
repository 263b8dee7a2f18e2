// The public API of nestjs-leader-election. Store and explorer internals stay unexported.
export { LeaderElectionModule } from './leader-election.module';
export type { LeaderElectionModuleExtras } from './leader-election.module-definition';
export { LEADER_ELECTION_MODULE_OPTIONS } from './leader-election.module-definition';
export { LeaderElectionService, type Leadership } from './leader-election.service';
export type { LeaderElectionModuleOptions, LeaderElectionSettings } from './leader-election.options';
export type { FencedDatabase, FencedTransaction, TransactionOf } from './leader-election.interfaces';
export type { ElectionEvent, ElectionEventType, ElectionRole, ElectionState } from './elector/election-state';
export { LeaderOnly, type LeaderOnlyOptions, type OnFollower } from './decorators/leader-only.decorator';
export {
  OnLeadershipGranted,
  OnLeadershipRevoked,
  type LeadershipChange,
} from './decorators/leadership-hooks.decorator';
export { LeaderElectionConfigError } from './errors/leader-election-config.error';
export { NotLeaderError } from './errors/not-leader.error';
export { createLeaseTableMigration, createLeaseTableSql, DEFAULT_LEASE_TABLE } from './store/lease-table';
export { DEFAULT_ELECTION } from './leader-election.constants';
