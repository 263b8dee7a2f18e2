import type { BenchChild } from './child';
import type { Cluster } from './cluster';
import type { RowMonitor } from './db';

/** One continuous belief of leadership: from the `elected` line to `revoked` or the end of the process. */
export interface LeadInterval {
  readonly child: BenchChild;
  readonly election: string;
  readonly term: number;
  readonly start: number;
  readonly end: number;
}

export interface OverlapReport {
  /** Pairs of intervals of different processes, same election, that intersect in time. */
  readonly overlaps: number;
  /** Terms claimed by two holders (from `elected` lines and from the polled rows). */
  readonly termConflicts: number;
  /** `elected` lines whose term is not above the previous one of the same election. */
  readonly termsNotIncreasing: number;
  readonly intervals: number;
  readonly rowObservations: number;
  readonly details: string[];
}

/** Leadership intervals of every member of a cluster, per election. */
export function leadIntervals(cluster: Cluster, until: number): LeadInterval[] {
  const intervals: LeadInterval[] = [];
  for (const child of cluster.members) {
    const open = new Map<string, { term: number; start: number }>();
    const end = child.endedAt ?? until;
    for (const line of child.lines) {
      if (line.election === undefined) continue;
      if (line.type === 'elected') {
        open.set(line.election, { term: line.term ?? 0, start: line.t });
      } else if (line.type === 'revoked') {
        const current = open.get(line.election);
        if (current) {
          intervals.push({
            child,
            election: line.election,
            term: current.term,
            start: current.start,
            end: line.t,
          });
          open.delete(line.election);
        }
      }
    }
    for (const [election, current] of open) {
      intervals.push({
        child,
        election,
        term: current.term,
        start: current.start,
        end: Math.max(end, current.start),
      });
    }
  }
  return intervals;
}

/**
 * Checks that no two processes believed they led the same election at the same instant, that every term
 * had one holder, and that terms increased. Intervals are upper bounds of each belief (a process's
 * isLeader() turns false at its local deadline, at or before its `revoked` line).
 */
export function checkOverlaps(
  groups: readonly { cluster: Cluster; monitor?: RowMonitor }[],
  until: number,
): OverlapReport {
  let overlaps = 0;
  let termConflicts = 0;
  let termsNotIncreasing = 0;
  let intervalCount = 0;
  let rowObservations = 0;
  const details: string[] = [];
  for (const { cluster, monitor } of groups) {
    const intervals = leadIntervals(cluster, cluster.endedAt ?? until);
    intervalCount += intervals.length;
    const byElection = new Map<string, LeadInterval[]>();
    for (const interval of intervals) {
      const list = byElection.get(interval.election) ?? [];
      list.push(interval);
      byElection.set(interval.election, list);
    }
    for (const [election, list] of byElection) {
      list.sort((a, b) => a.start - b.start);
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length && list[j].start < list[i].end; j++) {
          if (list[j].child === list[i].child) continue;
          overlaps++;
          details.push(
            `${cluster.options.name}/${election}: ${list[i].child.label} (term ${list[i].term}) and ` +
              `${list[j].child.label} (term ${list[j].term}) overlap by ${(list[i].end - list[j].start).toFixed(1)} ms`,
          );
        }
        if (i > 0 && list[i].term <= list[i - 1].term) {
          termsNotIncreasing++;
          details.push(
            `${cluster.options.name}/${election}: term ${list[i].term} after term ${list[i - 1].term}`,
          );
        }
      }
    }
    // term -> holders, from the processes' own lines and from the rows as polled.
    const holders = new Map<string, Set<string>>();
    const claim = (election: string, term: number, holder: string) => {
      const key = `${election}#${term}`;
      const set = holders.get(key) ?? new Set<string>();
      set.add(holder);
      holders.set(key, set);
    };
    for (const interval of intervals)
      claim(interval.election, interval.term, interval.child.candidateId ?? '?');
    for (const seen of monitor?.observations ?? []) {
      rowObservations++;
      if (seen.term > 0 && seen.holder !== '') claim(seen.name, seen.term, seen.holder);
    }
    for (const [key, set] of holders) {
      if (set.size > 1) {
        termConflicts++;
        details.push(`${cluster.options.name}: term ${key} claimed by ${[...set].join(', ')}`);
      }
    }
  }
  return {
    overlaps,
    termConflicts,
    termsNotIncreasing,
    intervals: intervalCount,
    rowObservations,
    details,
  };
}
