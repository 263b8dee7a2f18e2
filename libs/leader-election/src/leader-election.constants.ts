/** Election used when none is named. */
export const DEFAULT_ELECTION = 'default';

/** Defaults of docs/design.md: L = 10 s, R = 2 s, P = 2 s, M = 1 s. */
export const DEFAULT_LEASE_DURATION_MS = 10_000;
export const DEFAULT_RENEW_INTERVAL_MS = 2_000;
export const DEFAULT_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_SAFETY_MARGIN_MS = 1_000;
/** Upper bound of the default deadline of one lease operation (pool wait plus statement). */
export const DEFAULT_OPERATION_TIMEOUT_MS = 2_000;
/** How long shutdown waits for running leader-only calls before releasing the lease. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** Elections per process whose standbys wait on a doorbell (one connection each); the rest poll. */
export const DEFAULT_MAX_DOORBELLS = 4;

/** Room kept in the holder column for the random suffix appended to a user-chosen candidate id. */
export const CANDIDATE_SUFFIX_LENGTH = 9;

/** Metadata key of `@LeaderOnly()` on the wrapped method. */
export const LEADER_ONLY_METADATA = 'nestjs-leader-election:leader-only';
/** Metadata key of `@OnLeadershipGranted()` / `@OnLeadershipRevoked()`. */
export const LEADERSHIP_HOOK_METADATA = 'nestjs-leader-election:leadership-hook';

/** How long one doorbell wait (`GET_LOCK`) blocks before it is sent again. */
export const DEFAULT_DOORBELL_WAIT_MS = 60_000;

/**
 * Connections of the lease pool: 2 when standbys poll; 1 when they have doorbells, which bring a
 * connection each (a process then holds 1 + one per waited election).
 */
export function leasePoolSize(standbyMode: 'auto' | 'doorbell' | 'poll', maxDoorbells: number): number {
  return standbyMode === 'poll' || maxDoorbells === 0 ? 2 : 1;
}

/** `@nestjs/schedule`'s metadata keys (read by name, so that the scheduler stays an optional peer). */
export const SCHEDULE_METADATA_KINDS = [
  ['SCHEDULE_CRON_OPTIONS', 'cron'],
  ['SCHEDULE_INTERVAL_OPTIONS', 'interval'],
  ['SCHEDULE_TIMEOUT_OPTIONS', 'timeout'],
] as const;

/** Class names of `@nestjs/schedule`'s providers; one of them present means `ScheduleModule.forRoot()` is. */
export const SCHEDULER_PROVIDER_NAMES: readonly string[] = ['SchedulerRegistry', 'SchedulerOrchestrator'];

/** Injection token of the module's options after defaults and validation. */
export const LEADER_ELECTION_SETTINGS = Symbol('nestjs-leader-election:resolved-options');
/** Injection token of the `LeaseStore` the elections run on (MySQL by default). */
export const LEASE_STORE = Symbol('nestjs-leader-election:lease-store');
/** Injection token of the `Clock` the elections use (the process's real clock by default). */
export const LEADER_ELECTION_CLOCK = Symbol('nestjs-leader-election:clock');
/** Injection token of the `LeaderElector` (the state machines of all elections of this app). */
export const LEADER_ELECTOR = Symbol('nestjs-leader-election:elector');

/** How long after bootstrap the module checks that shutdown hooks are enabled (see the orchestrator). */
export const SHUTDOWN_HOOKS_CHECK_DELAY_MS = 1_000;

/** How standbys learn that the lease is free when `standbyMode` is not given. */
export const DEFAULT_STANDBY_MODE = 'auto' as const;

/**
 * How long a process that takes part in several elections collects lease statements into one: small
 * against R and P, large against the spread of timers due together.
 */
export const DEFAULT_BATCH_WINDOW_MS = 10;

/** `@LeaderOnly({ once: true })` defaults. */
export const DEFAULT_MISSED_POLICY = 'latest' as const;
export const DEFAULT_MAX_CATCH_UP = 10;
export const DEFAULT_CATCH_UP_WINDOW_MS = 24 * 3_600_000;
/** Runs kept per job in the runs table. */
export const DEFAULT_HISTORY_LIMIT = 1_000;

/** Injection token of the `RunsStore` of `once` jobs (MySQL by default). */
export const RUNS_STORE = Symbol('nestjs-leader-election:runs-store');

/** Injection token of the module's metrics (`LeaderElectionMetrics`, or `undefined` without OpenTelemetry). */
export const LEADER_ELECTION_METRICS = Symbol('nestjs-leader-election:metrics');
/** Injection token of the `TermsStore` of the leadership history (MySQL by default). */
export const TERMS_STORE = Symbol('nestjs-leader-election:terms-store');
