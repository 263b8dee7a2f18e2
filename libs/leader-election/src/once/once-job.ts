import type { OnceLeadership, MissedPolicy } from '../leader-election.interfaces';
import type { OccurrenceSchedule } from './occurrence-schedule';

/** A discovered `@LeaderOnly({ once: true })` method, ready to be fired by the once scheduler. */
export interface OnceJob {
  /** The stable name its occurrences are recorded under. */
  readonly job: string;
  /** `Class.method`, for log lines. */
  readonly label: string;
  readonly election: string;
  readonly schedule: OccurrenceSchedule;
  readonly missed: MissedPolicy;
  readonly recover: boolean;
  readonly maxCatchUp: number;
  readonly catchUpWindowMs: number;
  /** Calls the method for one occurrence under `leadership`; settles with its result. */
  readonly run: (leadership: OnceLeadership) => Promise<unknown>;
}
