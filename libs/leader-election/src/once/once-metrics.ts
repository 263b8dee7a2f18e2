/** The outcomes a `once` run is counted under (a `missed` occurrence is counted apart, see `missed`). */
export type CountedRunOutcome = 'succeeded' | 'failed' | 'skipped-overlap' | 'abandoned';

/** Where the once-scheduler reports its runs (see leader-election.metrics.ts); one call per occurrence. */
export interface OnceMetrics {
  /** An occurrence of `job` ended with `outcome`; `finishedAtWall` is the host's wall clock then. */
  run(election: string, job: string, outcome: CountedRunOutcome, finishedAtWall: number): void;
  /** `count` occurrences of `job` passed while no leader ran them, and will not run (recorded `missed`). */
  missed(election: string, job: string, count: number): void;
}
