import type { DynamicModule } from '@nestjs/common';
import { LEADER_ELECTION_SETTINGS, LEASE_STORE } from '../leader-election.constants';
import { LeaderElectionModule } from '../leader-election.module';
import type { LeaderElectionModuleOptions, ResolvedLeaderElectionOptions } from '../leader-election.options';
import { LEADER_ELECTION_TESTING_OPTIONS, LeaderElectionTesting } from './leader-election-testing';
import { TestingLeaseStore } from './testing-lease-store';

/** Options of `LeaderElectionTestingModule.forRoot()`. */
export interface LeaderElectionTestingOptions {
  /** Whether this app leads every election from bootstrap on (`init()` waits for it). Default `true`. */
  leader?: boolean;
  /**
   * The elections, as in `LeaderElectionModule.forRoot()` (balanced groups included: this app is their
   * only member). Default `['default']`.
   */
  elections?: LeaderElectionModuleOptions['elections'];
  /** Readable prefix of the candidate id. Default `testing`. */
  candidateId?: string;
  /** How long shutdown waits for running `@LeaderOnly()` calls. Default 10000. */
  drainTimeoutMs?: number;
}

/**
 * Timing of the test elections: renewals and reads every 10 ms against memory, so that `grant()` and
 * `revoke()` take effect within milliseconds; a long lease, so that a slow test never loses it by itself.
 */
const TESTING_TIMING = {
  leaseDurationMs: 60_000,
  safetyMarginMs: 1_000,
  renewIntervalMs: 10,
  pollIntervalMs: 10,
} as const;

/**
 * `LeaderElectionModule` for unit tests, without a database: the real module (service, `@LeaderOnly()`,
 * hooks, signals) on an in-memory lease table that the test controls through `LeaderElectionTesting`.
 *
 * @example
 * const moduleRef = await Test.createTestingModule({
 *   imports: [LeaderElectionTestingModule.forRoot({ leader: true })],
 *   providers: [ReportJob],
 * }).compile();
 * await moduleRef.init();
 */
export class LeaderElectionTestingModule {
  /** The real module with its lease table in memory; `leader` decides who leads at start. */
  static forRoot(options: LeaderElectionTestingOptions = {}): DynamicModule {
    const base = LeaderElectionModule.forRoot({
      connection: 'mysql://testing@localhost/leader_election_testing',
      elections: options.elections,
      candidateId: options.candidateId ?? 'testing',
      drainTimeoutMs: options.drainTimeoutMs,
      standbyMode: 'poll',
      ...TESTING_TIMING,
    });
    // Providers of a dynamic module come after the module's own, so this LEASE_STORE replaces the MySQL one.
    return {
      ...base,
      providers: [
        ...(base.providers ?? []),
        {
          provide: LEASE_STORE,
          useFactory: (settings: ResolvedLeaderElectionOptions) =>
            new TestingLeaseStore(settings.elections, options.leader ?? true),
          inject: [LEADER_ELECTION_SETTINGS],
        },
        { provide: LEADER_ELECTION_TESTING_OPTIONS, useValue: { leader: options.leader ?? true } },
        LeaderElectionTesting,
      ],
      exports: [...(base.exports ?? []), LeaderElectionTesting],
    };
  }
}
