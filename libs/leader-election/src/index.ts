// The public API of nestjs-leader-election. Store, elector and explorer internals stay unexported.
export { LeaderElectionModule } from './leader-election.module';
export type { LeaderElectionModuleExtras } from './leader-election.module-definition';
export { LEADER_ELECTION_MODULE_OPTIONS } from './leader-election.module-definition';
export { LeaderElectionService } from './leader-election.service';
export type {
  BalancedElections,
  LeaderElectionModuleOptions,
  LeaderElectionSettings,
} from './leader-election.options';
export type {
  FencedDatabase,
  FencedTransaction,
  JobRun,
  JobSummary,
  Leadership,
  MissedPolicy,
  LeadershipChange,
  LeadershipTerm,
  OnFollower,
  RunOutcome,
  TermEndReason,
  TransactionOf,
  ResignOptions,
} from './leader-election.interfaces';
export type { ElectionEvent, ElectionEventType, ElectionRole, ElectionState } from './elector/election-state';
export type { LeaseErrorKind } from './store/lease-store';
export { LeaderOnly, type LeaderOnlyOptions } from './decorators/leader-only.decorator';
export { OnLeadershipGranted, OnLeadershipRevoked } from './decorators/leadership-hooks.decorator';
export { LeaderElectionConfigError } from './errors/leader-election-config.error';
export { NotLeaderError } from './errors/not-leader.error';
export {
  createLeaseTableMigration,
  createLeaseTableSql,
  DEFAULT_LEASE_TABLE,
  upgradeLeaseTableSql,
  addFenceSeqColumnSql,
  addHandoverColumnSql,
  type LeaseKeyCollation,
} from './store/lease-table';
export { createRunsTableMigration, createRunsTableSql, DEFAULT_RUNS_TABLE } from './store/runs-table';
export { createTermsTableMigration, createTermsTableSql, DEFAULT_TERMS_TABLE } from './store/terms-table';
export { DEFAULT_ELECTION } from './leader-election.constants';
export { METRIC_NAMES, type LeaderElectionMeterProvider } from './leader-election.metrics';
