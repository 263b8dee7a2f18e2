import type { LeaseErrorKind } from '../store/lease-store';
import { LeaseStoreError } from '../store/lease-store';
import type { ElectionTiming } from './election-state';

/** Smallest wait before retrying a failed statement. */
export const RETRY_BASE_MS = 50;

/** Any error thrown by a step, as a classified store error (unknown ones were not applied). */
export function toStoreError(error: unknown): LeaseStoreError {
  return error instanceof LeaseStoreError
    ? error
    : new LeaseStoreError('not-applied', error instanceof Error ? error.message : String(error));
}

/** Who the candidate was when a step failed. */
export type StepErrorRole =
  /** Acting as leader. */
  | 'leader'
  /** Draining: no longer acting, still renewing the lease it owns. */
  | 'holder'
  | 'follower';

/** What a failed step means for the candidate (docs/design.md, "Errors"). */
export interface StepErrorPlan {
  /** Stop acting as leader at once: whether the renewal applied cannot be known. */
  readonly stepDown: boolean;
  /** The cap of the growing retry delay. */
  readonly retryCapMs: number;
  /** The retry must come before the leadership's local deadline (the lease is still ours). */
  readonly beforeDeadline: boolean;
}

/** Classifies a failed step: step down or not, and how soon to retry. */
export function planAfterStepError(
  kind: LeaseErrorKind,
  role: StepErrorRole,
  timing: ElectionTiming,
): StepErrorPlan {
  if (role === 'leader') {
    if (kind === 'outcome-unknown' || kind === 'configuration') {
      // We cannot know whether the renewal applied: stop acting now; a later acquisition takes a
      // new term (the CAS accepts our own stale row).
      return { stepDown: true, retryCapMs: timing.pollIntervalMs, beforeDeadline: false };
    }
    // Not applied or unreachable: retry with short backoff while the lease is still ours.
    return { stepDown: false, retryCapMs: timing.renewIntervalMs, beforeDeadline: true };
  }
  if (role === 'holder')
    return { stepDown: false, retryCapMs: timing.renewIntervalMs, beforeDeadline: false };
  const retryCapMs = kind === 'configuration' ? timing.pollIntervalMs * 5 : timing.pollIntervalMs;
  return { stepDown: false, retryCapMs, beforeDeadline: false };
}

/** The growing delay between retries of failing statements: 50 ms doubling up to a cap, with jitter. */
export class RetryBackoff {
  private delayMs = 0;

  constructor(private readonly random: () => number) {}

  /** A statement went through: the next failure starts from the smallest delay again. */
  reset(): void {
    this.delayMs = 0;
  }

  /** The delay before the next retry, never above `capMs`. */
  next(capMs: number): number {
    this.delayMs = this.delayMs === 0 ? RETRY_BASE_MS : Math.min(this.delayMs * 2, capMs);
    return Math.min(this.delayMs, capMs) * (0.75 + 0.5 * this.random());
  }
}

/** The log line of a failed lease statement (logged once per change of kind and code). */
export function failureMessage(election: string, error: LeaseStoreError): string {
  const hint = error.kind === 'configuration' ? ' Check the connection options, privileges and table.' : '';
  return `Lease statement of "${election}" failed (${describeKind(error.kind)}): ${sentence(error.message)}${hint}`;
}

/** Ends a clause with exactly one period. */
export function sentence(text: string): string {
  return text.endsWith('.') ? text : `${text}.`;
}

/** A kind of lease error, in words a user reading the log understands. */
export function describeKind(kind: LeaseErrorKind): string {
  switch (kind) {
    case 'configuration':
      return 'configuration: credentials, privileges, database or table';
    case 'unreachable':
      return 'database unreachable';
    case 'outcome-unknown':
      return 'outcome unknown';
    case 'not-applied':
      return 'not applied, will retry';
  }
}
