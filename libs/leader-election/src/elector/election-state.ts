import type { LeaseErrorKind } from '../store/lease-store';

/** Whether this candidate currently acts as leader of an election. */
export type ElectionRole = 'leader' | 'follower';

/** A snapshot of one election as this candidate sees it. */
export interface ElectionState {
  /** The election's name. */
  readonly election: string;
  /** `leader` only while the lease is held and still valid by this process's monotonic clock. */
  readonly role: ElectionRole;
  /** This process's candidate id (`hostname:pid:random`, or your prefix plus a random suffix). */
  readonly candidateId: string;
  /** The current leader's candidate id as last read, or `null` when no valid lease was seen. */
  readonly leaderId: string | null;
  /** The latest term seen or taken (the fencing token); 0 before the first read. */
  readonly term: number;
  /** Estimated end of the current lease (this host's wall clock, for display), or `null`. */
  readonly leaseExpiresAt: Date | null;
  /** When this candidate last acquired or renewed the lease, or `null`. */
  readonly lastRenewedAt: Date | null;
  /** When a lease statement last succeeded, or `null` when none has yet. */
  readonly lastContactAt: Date | null;
  /** Milliseconds since a lease statement last succeeded, or `null` when none has yet. */
  readonly lastContactAgoMs: number | null;
  /** False while lease statements fail. */
  readonly healthy: boolean;
  /** The last failure, without credentials, or `null` after a success. */
  readonly lastError: string | null;
  /** The class of the last failure (see docs/design.md, "Errors"), or `null`. */
  readonly lastErrorKind: LeaseErrorKind | null;
  /** How this candidate learns of a free lease as a standby: `doorbell` (named lock) or `poll` (every P). */
  readonly standbyMode: 'doorbell' | 'poll';
  /** `idle` before start, `running`, `draining` while shutting down, `stopped` after. */
  readonly status: 'idle' | 'running' | 'draining' | 'stopped';
}

/** What changed: emitted once per transition, never per tick. */
export type ElectionEventType = 'elected' | 'revoked' | 'leader-changed' | 'health-changed';

/** One transition of one election, with the state after it. */
export interface ElectionEvent {
  readonly type: ElectionEventType;
  readonly election: string;
  /** For `elected` / `revoked`: the term that began or ended; otherwise the latest term seen. */
  readonly term: number;
  /** Why leadership ended, for `revoked`. */
  readonly reason?: string;
  readonly state: ElectionState;
}

/** The logging the elector needs; Nest's `Logger` satisfies it. */
export interface ElectorLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

/** Lease timing in milliseconds (validated before it reaches the elector). */
export interface ElectionTiming {
  /** L: how long an acquisition or renewal keeps the lease, on the database's clock. */
  readonly leaseDurationMs: number;
  /** R: how often the leader renews. */
  readonly renewIntervalMs: number;
  /** P: how often a follower reads the lease. */
  readonly pollIntervalMs: number;
  /** M: how much earlier than L the leader stops believing it leads. */
  readonly safetyMarginMs: number;
}
