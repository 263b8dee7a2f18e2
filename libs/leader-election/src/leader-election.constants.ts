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
