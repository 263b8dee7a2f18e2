import type { TermEndReason } from '../leader-election.interfaces';

export type { TermEndReason };

/** One row of the terms table. Times are epoch milliseconds on the database's clock. */
export interface TermRow {
  readonly election: string;
  readonly term: number;
  readonly holder: string;
  readonly acquiredAt: number;
  readonly endedAt: number | null;
  readonly endReason: TermEndReason | null;
}

/**
 * What ended a term, as the code that saw it end knows it:
 * - `holder`: its holder gave the lease back (`resign: true` for `resign()`, else shutdown/stop);
 * - `operator`: an operator took it away (CLI `resign`, `LeaseAdmin.resign`);
 * - `takeover`: a candidate acquired the next term while this one was still open in the table, so its
 *   holder neither released it nor was resigned: the lease ran out.
 */
export type TermEnd =
  | { readonly by: 'holder'; readonly resign: boolean }
  | { readonly by: 'operator' }
  | { readonly by: 'handover' }
  | { readonly by: 'takeover' };

/** The one place that decides a term's `end_reason` from what ended it. */
export function termEndReason(end: TermEnd): TermEndReason {
  switch (end.by) {
    case 'holder':
      return end.resign ? 'resigned' : 'released';
    case 'operator':
      return 'resigned';
    case 'handover':
      return 'handed-over';
    case 'takeover':
      return 'expired';
  }
}

/**
 * The terms table beside the lease table, and nothing else (SQL only). Written at acquisition and at
 * release only: never on a renewal or a follower's read.
 */
export interface TermsStore {
  /** Creates the terms table when missing (skipped with `createTable: false`). */
  ensureSchema(): Promise<void>;
  /**
   * After `holder` acquired `term`: closes the election's older terms still open with `previousEnd`,
   * inserts the new term, and deletes terms older than the newest `keep`.
   */
  recordAcquired(
    election: string,
    holder: string,
    term: number,
    previousEnd: TermEndReason,
    keep: number,
  ): Promise<void>;
  /**
   * After a release or resign of `term` went through: closes it with `reason`. Also overrides an
   * `expired` written by a takeover that raced ahead of this write (the release matched, so nobody had
   * taken over before it), keeping the earlier end time.
   */
  recordEnded(election: string, holder: string, term: number, reason: TermEndReason): Promise<void>;
  /** The election's terms (every election's when `undefined`), newest first. */
  list(election: string | undefined, limit: number): Promise<TermRow[]>;
  close(): Promise<void>;
}
