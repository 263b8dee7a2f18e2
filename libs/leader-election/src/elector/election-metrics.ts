import type { LeaseErrorKind } from '../store/lease-store';

/**
 * Why leadership began or ended, as the `reason` attribute of the transitions counter: a closed set, so
 * that a dashboard can group by it (the free-text reason of a `revoked` event is mapped onto it).
 */
export type TransitionReason =
  | 'elected'
  | 'lease-lost'
  | 'renewal-deadline'
  | 'statement-failed'
  | 'resigned'
  | 'handed-over'
  | 'shutdown'
  | 'stopped'
  | 'other';

/** What a metrics exporter reads from one election when it is collected (never on the hot path). */
export interface ObservedElection {
  readonly name: string;
  isLeader(): boolean;
  /** The latest term seen or taken. */
  term(): number;
  /** Milliseconds in all during which this candidate's reads showed no valid lease, the current stretch included. */
  leaderlessMs(): number;
}

/**
 * Where an election reports what it measures (see leader-election.metrics.ts). Called on transitions,
 * renewals and failed statements only: `isLeader()` and `@LeaderOnly()` calls never reach it.
 */
export interface ElectionMetrics {
  /** Reads the elections' gauges at each collection until the returned function is called. */
  observe(elections: readonly ObservedElection[]): () => void;
  /** Leadership began (`elected`) or ended (any other reason). */
  transition(election: string, reason: TransitionReason): void;
  /**
   * A renewal statement answered after `latencyMs`; `marginMs` is how much of the local validity
   * (`t_send + L - M` of the previous confirmation) was left when it confirmed the lease, when it did.
   */
  renewal(election: string, latencyMs: number, marginMs: number | undefined): void;
  /** A stretch during which this candidate saw no valid lease ended after `ms`. */
  leaderlessEnded(election: string, ms: number): void;
  /** A lease statement failed, classified as docs/design.md "Errors" says. */
  statementFailed(election: string, kind: LeaseErrorKind): void;
}

/** Maps the free-text reason of a `revoked` transition onto a `TransitionReason`. */
export function transitionReason(reason: string | undefined): TransitionReason {
  if (reason === undefined) return 'other';
  if (reason === 'resigned') return 'resigned';
  if (reason.startsWith('resigned, handing over to')) return 'handed-over';
  if (reason.startsWith('a lease statement failed')) return 'statement-failed';
  if (reason.startsWith('the lease was lost')) return 'lease-lost';
  if (reason.startsWith('the lease could not be renewed')) return 'renewal-deadline';
  if (reason.includes('shutting down')) return 'shutdown';
  if (reason.includes('was stopped')) return 'stopped';
  return 'other';
}
