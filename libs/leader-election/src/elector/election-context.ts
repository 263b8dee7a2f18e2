import type { LeaseDoorbell, LeaseStore } from '../store/lease-store';
import type { Clock } from './clock';
import type { ElectionMetrics } from './election-metrics';
import type { Deadline, SharedDeadlines } from './shared-deadlines';
import type { StepRound } from './step-round';
import type { ElectionEvent, ElectionTiming, ElectorLogger } from './election-state';

/** Everything one election needs from the outside; no Nest, no SQL. */
export interface ElectionDeps {
  readonly name: string;
  readonly candidateId: string;
  readonly store: LeaseStore;
  readonly timing: ElectionTiming;
  readonly clock: Clock;
  readonly logger: ElectorLogger;
  /** Makes sure the lease table exists before the first statement (shared by all elections). */
  readonly ensureSchema: () => Promise<void>;
  /** Called once per transition. */
  readonly onEvent: (event: ElectionEvent) => void;
  /** A number in [0, 1); injectable so that tests are exact. */
  readonly random?: () => number;
  /** Where given, standbys wait on it instead of polling every P (see ElectionDoorbell). */
  readonly doorbell?: LeaseDoorbell;
  /** How long one doorbell wait blocks before it is sent again. Default `DEFAULT_DOORBELL_WAIT_MS`. */
  readonly doorbellWaitMs?: number;
  /**
   * Where set, regular renewals and polls fall due on the nearest multiple of this many ms of the
   * monotonic clock, so that the elections of one process issue them together and a batching store
   * sends one statement. Must keep `R + grid / 2 < L - M`.
   */
  readonly alignStepsToMs?: number;
  /**
   * Where given (with `alignStepsToMs`), the steps that fall due on the grid run in the process's round:
   * one timer and one statement for all elections (see `StepRound`).
   */
  readonly round?: StepRound;
  /**
   * Where given, the leaders' local deadlines share timers with the other elections of the process (see
   * `SharedDeadlines`); otherwise each election keeps its own.
   */
  readonly deadlines?: SharedDeadlines;
  /**
   * Where given, a follower campaigns only while it returns true (a balanced group's share of this
   * candidate); reads go on regardless. Only liveness depends on it, never safety.
   */
  readonly mayCampaign?: () => boolean;
  /** Where given, transitions, renewals and failed statements are counted (see election-metrics.ts). */
  readonly metrics?: ElectionMetrics;
  /**
   * A candidate id prefix: a candidate whose id starts with it asks a leader whose id does not to hand
   * the lease over (docs/design.md, "Handover to a chosen candidate"). Unset: nobody asks.
   */
  readonly preferred?: string;
  /** How long the others hold off after a handover before anybody may acquire. Default 2 P. */
  readonly handoverWindowMs?: number;
}

/** The window of a handover: 2 P unless configured (long enough for a polling target to read once). */
export function handoverWindowMs(deps: ElectionDeps): number {
  return deps.handoverWindowMs ?? 2 * deps.timing.pollIntervalMs;
}

/**
 * The term this candidate acts on as leader right now (internal). `Election.currentLeadership()` hands
 * out its term and signal, from which the Nest layer builds the public `Leadership` of a call.
 */
export interface HeldTerm {
  readonly term: number;
  /** Aborted when the leadership ends; its signal is handed to leader-only work. */
  readonly controller: AbortController;
  /** Monotonic time until which this leadership may act: `t_send + L - M` of the last confirmation. */
  validUntil: number;
  /** Due at `validUntil` to step down when no renewal confirmed the lease in time. */
  expiry: Deadline | undefined;
}

/**
 * The four notions of "term" one candidate keeps apart. The term it acts on as leader is a fifth,
 * `HeldTerm.term`: set only while `isLeader()` may be true.
 */
export interface ElectionTerms {
  /** The latest term read or taken: `getState().term` and the term of events; 0 before the first read. */
  seen: number;
  /**
   * The term this candidate holds in the database and has not released, even while not acting on it
   * (draining, or won while stopping): the leader step renews it, `stop()` and `resign()` release it.
   */
  owned: number | undefined;
  /**
   * The highest term this candidate has seen, held, or may hold (an acquisition whose outcome is
   * unknown): the next acquisition goes above it, so that a row deleted and re-created at term 0 never
   * hands out a fencing token again.
   */
  highest: number;
  /** Set while a follower's wake-up aligned on the lease's expiry is pending: try the CAS on this term at once. */
  aligned: number | undefined;
}

/** Raises `terms.highest` to `term`: that term is never handed out again by this candidate. */
export function seeTerm(terms: ElectionTerms, term: number): void {
  if (term > terms.highest) terms.highest = term;
}
