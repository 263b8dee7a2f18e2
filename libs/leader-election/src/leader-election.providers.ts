import type { Provider } from '@nestjs/common';
import { systemClock, type Clock } from './elector/clock';
import { generateCandidateId, LeaderElector } from './elector/leader-elector';
import {
  LEADER_ELECTION_CLOCK,
  LEADER_ELECTION_METRICS,
  LEADER_ELECTION_SETTINGS,
  LEADER_ELECTOR,
  LEASE_STORE,
  leasePoolSize,
  RUNS_STORE,
  TERMS_STORE,
} from './leader-election.constants';
import { createLeaderElectionMetrics, type LeaderElectionMetrics } from './leader-election.metrics';
import { moduleLogger } from './leader-election.logger';
import { LEADER_ELECTION_MODULE_OPTIONS } from './leader-election.module-definition';
import {
  resolveLeaderElectionOptions,
  type LeaderElectionModuleOptions,
  type ResolvedLeaderElectionOptions,
} from './leader-election.options';
import type { LeaseStore } from './store/lease-store';
import { MysqlLeaseStore } from './store/mysql-lease-store';
import { MysqlRunsStore } from './store/mysql-runs-store';
import type { RunsStore } from './store/runs-store';
import { MysqlTermsStore } from './store/mysql-terms-store';
import { TermRecordingLeaseStore } from './store/term-recording-lease-store';
import type { TermsStore } from './store/terms-store';

/**
 * The module's providers below the service: validated options, the lease store (MySQL unless overridden,
 * as kysely takes its driver), the runs store of `once` jobs, the clock, and the elector built from them. Tests override `LEASE_STORE`
 * and `LEADER_ELECTION_CLOCK` to run the Nest layer on the in-memory store and a fake clock.
 */
export const leaderElectionProviders: Provider[] = [
  {
    provide: LEADER_ELECTION_SETTINGS,
    useFactory: (options: LeaderElectionModuleOptions) => resolveLeaderElectionOptions(options),
    inject: [LEADER_ELECTION_MODULE_OPTIONS],
  },
  {
    // Its pool connects at the first statement: only a candidate that acquires or releases a term opens it.
    provide: TERMS_STORE,
    useFactory: (options: ResolvedLeaderElectionOptions): TermsStore =>
      new MysqlTermsStore({
        connection: options.connection,
        termsTableName: options.termsTableName,
        operationTimeoutMs: options.operationTimeoutMs,
      }),
    inject: [LEADER_ELECTION_SETTINGS],
  },
  {
    // The lease statements, with the leadership history written after acquisitions and releases.
    provide: LEASE_STORE,
    useFactory: (options: ResolvedLeaderElectionOptions, terms: TermsStore): LeaseStore =>
      new TermRecordingLeaseStore(
        new MysqlLeaseStore({
          connection: options.connection,
          tableName: options.tableName,
          operationTimeoutMs: options.operationTimeoutMs,
          poolSize: leasePoolSize(options.standbyMode, options.maxDoorbells),
        }),
        terms,
        {
          keep: options.historyLimit,
          logger: moduleLogger(options.logger),
          createTable: options.createTable,
        },
      ),
    inject: [LEADER_ELECTION_SETTINGS, TERMS_STORE],
  },
  {
    // Its pool connects at the first statement: a process without `once` jobs, or a follower, opens nothing.
    provide: RUNS_STORE,
    useFactory: (options: ResolvedLeaderElectionOptions): RunsStore =>
      new MysqlRunsStore({
        connection: options.connection,
        leaseTableName: options.tableName,
        runsTableName: options.runsTableName,
        operationTimeoutMs: options.operationTimeoutMs,
      }),
    inject: [LEADER_ELECTION_SETTINGS],
  },
  { provide: LEADER_ELECTION_CLOCK, useValue: systemClock },
  {
    // The meter is taken once, here: an OpenTelemetry SDK registered after the module started is not seen.
    provide: LEADER_ELECTION_METRICS,
    useFactory: (options: ResolvedLeaderElectionOptions) =>
      createLeaderElectionMetrics(options.meterProvider),
    inject: [LEADER_ELECTION_SETTINGS],
  },
  {
    provide: LEADER_ELECTOR,
    useFactory: (
      options: ResolvedLeaderElectionOptions,
      store: LeaseStore,
      clock: Clock,
      metrics: LeaderElectionMetrics | undefined,
    ) =>
      new LeaderElector({
        store,
        elections: options.elections,
        balanced: options.balanced,
        candidateId: generateCandidateId(options.candidateIdPrefix),
        timing: options,
        createTable: options.createTable,
        logger: moduleLogger(options.logger),
        clock,
        standbyMode: options.standbyMode,
        maxDoorbells: options.maxDoorbells,
        preferred: options.preferred,
        handoverWindowMs: options.handoverWindowMs,
        metrics,
      }),
    inject: [LEADER_ELECTION_SETTINGS, LEASE_STORE, LEADER_ELECTION_CLOCK, LEADER_ELECTION_METRICS],
  },
];
