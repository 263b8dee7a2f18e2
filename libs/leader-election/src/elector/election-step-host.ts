import type { LeaseRow } from '../store/lease-store';
import type { ElectionDeps, ElectionTerms, HeldTerm } from './election-context';
import type { ElectionDoorbell } from './election-doorbell';
import type { RetryBackoff } from './election-errors';
import type { StepLoop } from './election-loop';
import type { ElectionReport } from './election-report';
import type { SharedDeadlines } from './shared-deadlines';

/** What the follower and leader steps need from their election. */
export interface StepHost {
  readonly deps: ElectionDeps;
  readonly terms: ElectionTerms;
  readonly report: ElectionReport;
  readonly loop: StepLoop;
  readonly bell: ElectionDoorbell | undefined;
  readonly backoff: RetryBackoff;
  /** Where the leader's local deadline is planned. */
  readonly deadlines: SharedDeadlines;
  /** The term acted on as leader, if any. */
  held(): HeldTerm | undefined;
  /** Started and neither draining nor stopped. */
  isRunning(): boolean;
  /** Running, and not within the pause after `resign()`. */
  mayCampaign(): boolean;
  random(): number;
  /** Takes in what a read of the row showed. */
  observe(row: LeaseRow): void;
  /** The acquisition of `term`, sent at `tSend`, was won: begin leading. */
  becomeLeader(term: number, tSend: number): void;
  /** Ends the current leadership for the application (see `Election`). */
  endLeadership(reason: string, unexpected: boolean): void;
  /** This candidate's given-up lease at `term` was asked for by `to`: hand it over. */
  handOverAsked(term: number, to: string): Promise<void>;
}
