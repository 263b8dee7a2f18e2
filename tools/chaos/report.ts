import type { checkAll, ChaosHistory, ChaosTiming } from './checkers';
import {
  beliefs,
  grants,
  leaderlessGaps,
  livenessToleranceMs,
  longestCommitStall,
  outageAfterMs,
  outageWindows,
  recoveryWindows,
} from './checkers';

interface SummaryOptions {
  readonly faults: number;
  readonly durationS: number;
  readonly seed: number;
  readonly candidates: number;
  readonly mix: readonly { kind: string; weight: number }[];
  readonly timing: ChaosTiming;
  readonly galera?: boolean;
}

/** Fault targets, in the order of the report's columns. */
const TARGETS = ['leader', 'follower', 'server', 'lease-node', 'other-node'] as const;
type Target = (typeof TARGETS)[number];

export interface CheckSummary {
  readonly name: string;
  readonly ok: boolean;
  readonly checked: number;
  readonly detail: string;
  readonly violations: readonly unknown[];
}

export interface ChaosSummary {
  readonly run: {
    readonly started: string;
    readonly finished: string;
    readonly interrupted: boolean;
    readonly error: string | null;
    readonly seconds: number;
    readonly seed: number;
    readonly candidates: number;
    readonly timing: ChaosTiming;
    readonly mix: string;
    readonly limits: { readonly faults: number; readonly durationS: number };
    readonly node: string;
    /** `one throwaway MariaDB` or `a 3-node MariaDB Galera cluster`. */
    readonly database: string;
    /** Every process the run started (candidates, servers): all stopped when it ended. */
    readonly pids: readonly number[];
  };
  readonly faults: {
    readonly total: number;
    readonly byKind: Record<string, { total: number } & Record<Target, number>>;
    /** Galera node faults per node (1-based) and kind. */
    readonly byNode?: Record<string, Record<string, number>>;
  };
  /** The smallest gap from one process's belief ending to another's starting (ms; negative = overlap). */
  readonly closestHandoverMs: number | null;
  readonly processes: number;
  readonly beliefs: number;
  readonly grants: number;
  /** Terms granted to a process running under a skewed wall clock (libfaketime). */
  readonly grantsUnderSkew: number;
  /** Processes started under a skewed wall clock. */
  readonly skewedProcesses: number;
  readonly ledgerRows: number;
  readonly liveness: {
    readonly boundMs: number;
    readonly toleranceMs: number;
    readonly heals: number;
    readonly unjudged: number;
    /** Heals at which every other candidate was still booting: judged from the first one up. */
    readonly waitedForBoot: number;
    /** Heals judged from the moment the cluster committed again after a bootstrap by the harness. */
    readonly afterRecovery?: number;
    /** Heals judged from the moment the cluster committed again after an outage (no commit anywhere). */
    readonly afterOutage?: number;
    /** Heals followed by a leader within L + P itself (no tolerance). */
    readonly withinLeasePlusPoll: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
    readonly leaderAlreadyThere: number;
    /** The longest time without any leader after the first election, and when it began (run time, ms). */
    readonly longestLeaderlessMs: number;
    readonly longestLeaderlessFrom: number;
    /** Every bound that applied (the run's L + P + tolerance, and L + 10 s after a lease-node loss on Galera). */
    readonly perBound: readonly {
      readonly boundMs: number;
      readonly checked: number;
      readonly maxMs: number;
    }[];
  };
  /** Galera: leaderless gaps while a node was lost (`checkNodeLosses`). */
  readonly nodeLosses?: {
    readonly boundMs: number;
    /** Every loss bound that applied, e.g. `12000 ms = L + 10 s or 17000 ms = L + 15 s`. */
    readonly bounds: string;
    readonly judged: number;
    readonly unjudged: number;
    readonly withoutLoss: number;
    readonly p50Ms: number;
    readonly maxMs: number;
  };
  /** Galera: restarts of a node that did not rejoin by itself after a fault, before the next fault. */
  readonly rejoinRestarts?: number;
  /**
   * Galera: what the harness did to bring the cluster back between faults (tools/chaos/galera-recovery.ts):
   * `count` actions, of which `bootstraps` of a primary component (none had formed) and `restarts` of a node
   * (it did not rejoin, or its start at the heal failed: `failedRestarts`), each with when and why; for a
   * bootstrap also the time the cluster could not commit (`noCommitFrom` to `commitAgainAt`).
   */
  readonly clusterRecoveries?: {
    readonly count: number;
    readonly bootstraps: number;
    readonly restarts: number;
    readonly failedRestarts: number;
    readonly events: readonly {
      readonly afterFault: number;
      readonly at: number;
      readonly action: string;
      /** 1-based. */
      readonly node: number;
      readonly ok: boolean;
      readonly reason: string;
      readonly noCommitFrom?: number;
      readonly commitAgainAt?: number;
    }[];
    /**
     * Cluster outages (checkers.ts `outageWindows`): no commit on any node for longer than `outageAfterMs`,
     * from the last commit before to the first after; not counted against the library, like a bootstrap's window.
     */
    readonly outages?: {
      readonly outageAfterMs: number;
      readonly windows: readonly {
        readonly afterFault: number;
        readonly from: number;
        readonly to: number;
      }[];
    };
  };
  /**
   * Galera: what the commit probe saw. Per node fault, from its injection to the next fault: the longest
   * time no node committed (`stallMs`), the longest time without a leader (`leaderlessMs`), and how long
   * after the cluster committed again a leader was back (`afterStallMs`, 0 when the leader outlasted it).
   */
  readonly commitProbe?: {
    readonly commits: number;
    readonly byFault: readonly {
      readonly n: number;
      readonly kind: string;
      readonly target: string;
      readonly stallMs: number;
      readonly leaderlessMs: number;
      readonly afterStallMs: number | null;
    }[];
    readonly maxStallMs: number;
    readonly maxAfterStallMs: number;
  };
  readonly runOnce: string;
  readonly checks: readonly CheckSummary[];
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** The JSON a run writes: run settings, counts per fault kind, and every checker's verdict. */
export function summarize(
  options: SummaryOptions,
  history: ChaosHistory,
  results: ReturnType<typeof checkAll>,
  run: {
    started: string;
    finished: string;
    interrupted: boolean;
    error: string | null;
    pids: number[];
    rejoinRestarts?: number;
    failedRestarts?: number;
  },
): ChaosSummary {
  const { rejoinRestarts, failedRestarts, ...runInfo } = run;
  const byKind: ChaosSummary['faults']['byKind'] = {};
  const byNode: Record<string, Record<string, number>> = {};
  for (const fault of history.faults) {
    const entry = (byKind[fault.kind] ??= {
      total: 0,
      leader: 0,
      follower: 0,
      server: 0,
      'lease-node': 0,
      'other-node': 0,
    });
    entry.total++;
    if ((TARGETS as readonly string[]).includes(fault.target)) entry[fault.target as Target]++;
    if (fault.node !== undefined && fault.node !== null) {
      const node = (byNode[`node ${fault.node + 1}`] ??= {});
      node[fault.kind] = (node[fault.kind] ?? 0) + 1;
    }
  }
  const delays = [...results.liveness.delays].sort((a, b) => a - b);
  const first = <V>(list: readonly V[]) => list.slice(0, 50);
  const checks: CheckSummary[] = [
    {
      name: results.overlaps.name,
      ok: results.overlaps.ok,
      checked: results.overlaps.checked,
      detail: `${results.overlaps.violations.length} overlaps among ${results.overlaps.checked} belief spans`,
      violations: first(results.overlaps.violations),
    },
    {
      name: results.terms.name,
      ok: results.terms.ok,
      checked: results.terms.checked,
      detail: `${results.terms.violations.length} violations among ${results.terms.checked} grants`,
      violations: first(results.terms.violations),
    },
    {
      name: results.ledger.name,
      ok: results.ledger.ok,
      checked: results.ledger.checked,
      detail: `${results.ledger.violations.length} violations among ${results.ledger.checked} rows`,
      violations: first(results.ledger.violations),
    },
    {
      name: results.liveness.name,
      ok: results.liveness.ok,
      checked: results.liveness.checked,
      detail:
        `${results.liveness.violations.length} heals without a leader within ${boundText(results.liveness.perBound, history.timing)} ` +
        `of ${results.liveness.checked}; max ${Math.round(quantile(delays, 1))} ms`,
      violations: first(results.liveness.violations),
    },
  ];
  const nodeLosses = results.nodeLosses;
  const lossDelays = nodeLosses ? [...nodeLosses.delays].sort((a, b) => a - b) : [];
  const lossBounds = [
    ...new Set(
      history.faults.flatMap((fault) => (fault.lossBoundMs === undefined ? [] : [fault.lossBoundMs])),
    ),
  ].sort((a, b) => a - b);
  const lossBoundMs = lossBounds[0];
  const lossBoundText = lossBounds
    .map((ms) => `${ms} ms = L + ${(ms - history.timing.leaseMs) / 1000} s`)
    .join(' or ');
  if (nodeLosses) {
    checks.push({
      name: nodeLosses.name,
      ok: nodeLosses.ok,
      checked: nodeLosses.checked,
      detail:
        `${nodeLosses.violations.length} gaps without a leader longer than their bound (${lossBoundText}) while a ` +
        `node was lost, over ${nodeLosses.checked} node faults; longest ${Math.round(quantile(lossDelays, 1))} ms`,
      violations: first(nodeLosses.violations),
    });
  }
  if (results.runOnce) {
    checks.push({
      name: results.runOnce.name,
      ok: results.runOnce.ok,
      checked: results.runOnce.checked,
      detail: `${results.runOnce.violations.length} occurrences run twice among ${results.runOnce.checked} runs of a once-job`,
      violations: first(results.runOnce.violations),
    });
  }
  const lastFault = history.faults.at(-1);
  const commitProbe = history.commits ? probeSummary(history) : undefined;
  return {
    run: {
      ...runInfo,
      database: options.galera ? 'a 3-node MariaDB Galera cluster' : 'one throwaway MariaDB',
      seconds: Math.round(history.endedAt / 1000),
      seed: options.seed,
      candidates: options.candidates,
      timing: options.timing,
      mix: options.mix.map((entry) => `${entry.kind}=${entry.weight}`).join(','),
      limits: { faults: options.faults, durationS: options.durationS },
      node: process.version,
    },
    faults: {
      total: lastFault ? history.faults.length : 0,
      byKind,
      ...(options.galera ? { byNode } : {}),
    },
    closestHandoverMs: results.closestHandover ? Math.round(results.closestHandover.ms * 10) / 10 : null,
    processes: history.lives.length,
    beliefs: results.beliefs,
    grants: results.terms.checked,
    grantsUnderSkew: grants(history).filter(
      (grant) => history.lives.find((life) => life.id === grant.life)?.skew !== null,
    ).length,
    skewedProcesses: history.lives.filter((life) => life.skew !== null).length,
    ledgerRows: history.ledger.length,
    liveness: {
      boundMs: results.liveness.boundMs,
      toleranceMs: livenessToleranceMs(history.timing),
      heals: results.liveness.checked,
      unjudged: results.liveness.unjudged,
      waitedForBoot: results.liveness.waitedForBoot,
      ...(history.recoveries
        ? { afterRecovery: results.liveness.afterRecovery, afterOutage: results.liveness.afterOutage }
        : {}),
      withinLeasePlusPoll: delays.filter((delay) => delay <= history.timing.leaseMs + history.timing.pollMs)
        .length,
      p50Ms: Math.round(quantile(delays, 0.5)),
      p99Ms: Math.round(quantile(delays, 0.99)),
      maxMs: Math.round(quantile(delays, 1)),
      leaderAlreadyThere: delays.filter((delay) => delay === 0).length,
      longestLeaderlessMs: Math.round(results.longestLeaderless.ms),
      longestLeaderlessFrom: Math.round(results.longestLeaderless.from),
      perBound: results.liveness.perBound,
    },
    ...(nodeLosses && lossBoundMs !== undefined
      ? {
          nodeLosses: {
            boundMs: lossBoundMs,
            bounds: lossBoundText,
            judged: nodeLosses.checked,
            unjudged: nodeLosses.unjudged,
            withoutLoss: lossDelays.filter((delay) => delay === 0).length,
            p50Ms: Math.round(quantile(lossDelays, 0.5)),
            maxMs: Math.round(quantile(lossDelays, 1)),
          },
        }
      : {}),
    ...(rejoinRestarts !== undefined ? { rejoinRestarts } : {}),
    ...(history.recoveries ? { clusterRecoveries: recoverySummary(history, failedRestarts ?? 0) } : {}),
    ...(commitProbe ? { commitProbe } : {}),
    runOnce: results.runOnce
      ? 'every execution of an @Interval(500) @LeaderOnly({ once: true }) job, recorded by the job in a table without a unique key'
      : 'not exercised (no runs recorded)',
    checks,
  };
}

/** Every recovery action of the harness, with the no-commit window of each bootstrap. */
function recoverySummary(
  history: ChaosHistory,
  failedRestarts: number,
): NonNullable<ChaosSummary['clusterRecoveries']> {
  const recoveries = history.recoveries ?? [];
  const windows = recoveryWindows(history);
  const outages = outageWindows(history);
  return {
    outages: {
      outageAfterMs: outageAfterMs(history.timing),
      windows: outages.map((w) => ({
        afterFault: w.afterFault,
        from: Math.round(w.from),
        to: Math.round(w.to),
      })),
    },
    count: recoveries.length,
    bootstraps: recoveries.filter((recovery) => recovery.action === 'bootstrap').length,
    restarts: recoveries.filter((recovery) => recovery.action === 'restart').length,
    failedRestarts,
    events: recoveries.map((recovery) => {
      const window =
        recovery.action === 'bootstrap'
          ? windows.find(
              (w) => w.afterFault === recovery.afterFault && w.from <= recovery.at && w.to >= recovery.at,
            )
          : undefined;
      return {
        afterFault: recovery.afterFault,
        at: Math.round(recovery.at),
        action: recovery.action,
        node: recovery.node + 1,
        ok: recovery.ok,
        reason: recovery.reason,
        ...(window ? { noCommitFrom: Math.round(window.from), commitAgainAt: Math.round(window.to) } : {}),
      };
    }),
  };
}

/** The report's section on the harness's recoveries of the cluster. */
function recoveryLines(recoveries: NonNullable<ChaosSummary['clusterRecoveries']>): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    '## Cluster recoveries (Galera)',
    '',
    `Cluster recoveries: ${recoveries.count} (${recoveries.bootstraps} bootstraps of a primary component, ` +
      `${recoveries.restarts} node restarts; ${recoveries.failedRestarts} node starts at a heal failed). After every ` +
      'node fault the harness waits until all three nodes are synced in one primary component with the same ' +
      'view and each has committed a probe UPDATE; when no node committed and none was in a primary component ' +
      "for 20 s, it sets pc.bootstrap=YES on the live node with the highest wsrep_last_committed (the operator's " +
      'recovery); a node that does not rejoin within 60 s, or whose start failed, is restarted. A heal followed by a ' +
      'bootstrap is judged from the moment the cluster committed again, and time without a primary component ' +
      'before a bootstrap does not count against a node loss.',
    '',
    ...recoveries.events.map(
      (event) =>
        `- after fault ${event.afterFault}, at ${s(event.at)}: ${event.action} node ${event.node}` +
        `${event.ok ? '' : ' (failed)'}` +
        (event.commitAgainAt !== undefined && event.noCommitFrom !== undefined
          ? `; no commit from ${s(event.noCommitFrom)} to ${s(event.commitAgainAt)} (${Math.round(event.commitAgainAt - event.noCommitFrom)} ms)`
          : '') +
        `. Why: ${event.reason}.`,
    ),
    ...(recoveries.events.length > 0 ? [''] : []),
    ...(recoveries.outages
      ? [
          `Cluster outages (no probe commit on any node for over ${recoveries.outages.outageAfterMs} ms = L + 15 s, the ` +
            'longest node-loss bound): ' +
            (recoveries.outages.windows.length === 0
              ? 'none.'
              : `${recoveries.outages.windows.length}. No candidate can hold or take a lease anywhere then, whatever ` +
                'the nodes report: a heal during one is judged from the first commit after it, and its time does not ' +
                'count against a node loss.'),
          ...recoveries.outages.windows.map(
            (w) =>
              `- after fault ${w.afterFault}: no commit from ${s(w.from)} to ${s(w.to)} (${Math.round(w.to - w.from)} ms).`,
          ),
          '',
        ]
      : []),
  ];
}

/** The commit probe against each node fault's window (its injection to the next fault's). */
function probeSummary(history: ChaosHistory): NonNullable<ChaosSummary['commitProbe']> {
  const commits = history.commits ?? [];
  const spans = beliefs(history);
  const start = spans.length > 0 ? Math.min(...spans.map((span) => span.from)) : history.endedAt;
  const gaps = leaderlessGaps(spans, start, history.endedAt);
  const byFault: NonNullable<ChaosSummary['commitProbe']>['byFault'][number][] = [];
  history.faults.forEach((fault, index) => {
    if (fault.node === undefined || fault.node === null) return;
    const end = history.faults[index + 1]?.at ?? history.endedAt;
    const stall = longestCommitStall(commits, fault.at, end);
    let longest: { from: number; to: number } | undefined;
    for (const gap of gaps) {
      if (gap.to <= fault.at || gap.from >= end) continue;
      if (!longest || gap.to - gap.from > longest.to - longest.from) longest = gap;
    }
    const stallEnd = stall ? stall.from + stall.ms : null;
    byFault.push({
      n: fault.n,
      kind: fault.kind,
      target: fault.target,
      stallMs: Math.round(stall?.ms ?? 0),
      leaderlessMs: longest ? Math.round(longest.to - Math.max(longest.from, fault.at)) : 0,
      afterStallMs: longest && stallEnd !== null ? Math.max(0, Math.round(longest.to - stallEnd)) : null,
    });
  });
  return {
    commits: commits.length,
    byFault,
    maxStallMs: Math.max(0, ...byFault.map((entry) => entry.stallMs)),
    maxAfterStallMs: Math.max(0, ...byFault.map((entry) => entry.afterStallMs ?? 0)),
  };
}

/** "4500 ms (L + P + 2100 ms)", or each bound that applied with how many heals it judged. */
function boundText(perBound: ChaosSummary['liveness']['perBound'], timing: ChaosTiming): string {
  const name = (boundMs: number) =>
    boundMs === timing.leaseMs + 10_000
      ? 'L + 10 s'
      : `L + P + ${boundMs - timing.leaseMs - timing.pollMs} ms`;
  if (perBound.length <= 1) {
    const boundMs = perBound[0]?.boundMs ?? timing.leaseMs + timing.pollMs + livenessToleranceMs(timing);
    return `${boundMs} ms (${name(boundMs)})`;
  }
  return perBound
    .map((entry) => `${entry.boundMs} ms (${name(entry.boundMs)}, ${entry.checked} heals)`)
    .join(' or ');
}

/** The report's section on the commit probe: when the cluster itself could not commit. */
function probeLines(probe: NonNullable<ChaosSummary['commitProbe']>): string[] {
  const kinds = [...new Set(probe.byFault.map((entry) => entry.kind))].sort();
  const worst = [...probe.byFault].sort((a, b) => b.leaderlessMs - a.leaderlessMs).slice(0, 5);
  return [
    '## The cluster itself (commit probe)',
    '',
    `The harness committed a one-row UPDATE on each node every 200 ms, straight to the node (${probe.commits} ` +
      'commits). Per node fault, from its injection to the next fault: the longest time no node committed (the ' +
      'cluster stalled: no candidate could have renewed or taken the lease anywhere), the longest time without a ' +
      'leader, and how long after the cluster committed again the leader was back.',
    '',
    '| kind | faults | longest stall | longest without a leader | leader back after the stall: max |',
    '|---|---:|---:|---:|---:|',
    ...kinds.map((kind) => {
      const entries = probe.byFault.filter((entry) => entry.kind === kind);
      const max = (values: number[]) => Math.max(0, ...values);
      return (
        `| ${kind} | ${entries.length} | ${max(entries.map((e) => e.stallMs))} ms | ` +
        `${max(entries.map((e) => e.leaderlessMs))} ms | ${max(entries.map((e) => e.afterStallMs ?? 0))} ms |`
      );
    }),
    '',
    'The five longest times without a leader during a node fault: ' +
      worst
        .map(
          (entry) =>
            `fault ${entry.n} (${entry.kind} on the ${entry.target}): ${entry.leaderlessMs} ms without a leader, ` +
            `cluster stalled ${entry.stallMs} ms, leader ${entry.afterStallMs ?? '-'} ms after the stall`,
        )
        .join('; ') +
      '.',
    '',
  ];
}

/** The Markdown report of one run. */
export function renderReport(summary: ChaosSummary): string {
  const { run, faults, liveness } = summary;
  const t = run.timing;
  const galera = faults.byNode !== undefined;
  const lines = [
    `# Chaos run: ${summary.faults.total} faults on ${run.database}`,
    '',
    `${run.started} to ${run.finished} (${run.seconds} s), node ${run.node}, seed ${run.seed}` +
      (run.interrupted ? ', **interrupted**' : '') +
      (run.error ? `, **error: ${run.error}**` : '') +
      '.',
    `${run.candidates} candidates, each through its own fault proxy; L = ${t.leaseMs} ms, R = ${t.renewMs} ms, ` +
      `P = ${t.pollMs} ms, M = ${t.marginMs} ms (operation deadline ${t.operationTimeoutMs} ms). Mix: \`${run.mix}\`.`,
    `Reproduce the schedule: \`npm run chaos -- --seed=${run.seed} --faults=${run.limits.faults} --duration=${run.limits.durationS} ` +
      `--mix=${run.mix} --lease=${t.leaseMs} --renew=${t.renewMs} --poll=${t.pollMs} --margin=${t.marginMs}` +
      `${galera ? ' --galera' : ''}\` ` +
      '(the seed fixes kinds, roles and durations; which process leads at each fault depends on the run).',
    '',
    '## Checks',
    '',
    '| check | result | detail |',
    '|---|---|---|',
    ...summary.checks.map(
      (check) => `| ${check.name} | ${check.ok ? 'pass' : '**FAIL**'} | ${check.detail} |`,
    ),
    ...(summary.checks.some((check) => check.name === 'run once')
      ? [`Run once: ${summary.runOnce}.`]
      : [`| run once | not run | ${summary.runOnce} |`]),
    '',
    `${summary.processes} candidate processes (${summary.skewedProcesses} under a skewed wall clock), ` +
      `${summary.grants} terms granted (${summary.grantsUnderSkew} to a skewed process), ${summary.beliefs} belief spans, ` +
      `${summary.ledgerRows} fenced ledger rows. Closest handover (one process's belief ending to another's ` +
      `starting): ${summary.closestHandoverMs ?? '-'} ms (M = ${t.marginMs} ms).`,
    '',
    '## Faults',
    '',
    ...(galera
      ? [
          '| kind | injected | on the leader | on a follower | on the lease node | on another node |',
          '|---|---:|---:|---:|---:|---:|',
          ...Object.entries(faults.byKind)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(
              ([kind, c]) =>
                `| ${kind} | ${c.total} | ${c.leader} | ${c.follower} | ${c['lease-node']} | ${c['other-node']} |`,
            ),
          `| **total** | **${faults.total}** | | | | |`,
          '',
          "The lease node: the node the leader's lease traffic went to when the fault was injected (each candidate " +
            'reports the node its lease pool uses). Node faults per node: ' +
            Object.entries(faults.byNode ?? {})
              .sort(([a], [b]) => a.localeCompare(b))
              .map(
                ([node, kinds]) =>
                  `${node}: ${Object.entries(kinds)
                    .sort(([a], [b]) => a.localeCompare(b))
                    .map(([kind, count]) => `${count} ${kind}`)
                    .join(', ')}`,
              )
              .join('; ') +
            '.' +
            (summary.rejoinRestarts
              ? ` ${summary.rejoinRestarts} times a node that had not rejoined by itself within 60 s of a fault was restarted before the next fault.`
              : ''),
        ]
      : [
          '| kind | injected | on the leader | on a follower | server |',
          '|---|---:|---:|---:|---:|',
          ...Object.entries(faults.byKind)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([kind, c]) => `| ${kind} | ${c.total} | ${c.leader} | ${c.follower} | ${c.server} |`),
          `| **total** | **${faults.total}** | | | |`,
        ]),
    '',
    '## Leader after each heal',
    '',
    `Bound: L + P + ${liveness.toleranceMs} ms = ${liveness.boundMs} ms (tolerance: the operation deadline, a statement ` +
      'sent into the fault can hang that long before the retry, plus 500 ms of scheduling on a loaded 2-core machine).',
    ...(galera
      ? [
          `On Galera, after a node fault on the lease node (node-kill, node-pause, node-skew) and after any node-pause: ` +
            `L + 10 s = ${t.leaseMs + 10_000} ms (the issue's bound for losing the lease node: Galera's 5 s suspect ` +
            'timeout stalls commits on every node before the cluster drops a silent node; a frozen node can stall it ' +
            'until 15 s after the freeze, at most 10 s after a SIGCONT past the suspect timeout). Per bound: ' +
            liveness.perBound
              .map((entry) => `${entry.boundMs} ms judged ${entry.checked} heals, max ${entry.maxMs} ms`)
              .join('; ') +
            '.',
        ]
      : []),
    `${liveness.heals} heals judged (${liveness.unjudged} too close to the end); a leader was already there at ` +
      `${liveness.leaderAlreadyThere}; heal to leader: median ${liveness.p50Ms} ms, p99 ${liveness.p99Ms} ms, max ${liveness.maxMs} ms; ` +
      `within L + P = ${t.leaseMs + t.pollMs} ms itself: ${liveness.withinLeasePlusPoll} of ${liveness.heals}.`,
    `Measured from the heal, or, at ${liveness.waitedForBoot} heals where every other candidate had just been restarted ` +
      'by the faults before and was still booting (Node, swc, Nest: seconds on this machine), from the moment the ' +
      'first one was up (bootstrapped): a leader needs a candidate.' +
      (liveness.afterRecovery
        ? ` ${liveness.afterRecovery} heals were followed by a cluster recovery (below) and are judged from the ` +
          'moment the cluster committed again.'
        : '') +
      (liveness.afterOutage
        ? ` ${liveness.afterOutage} heals fell in a cluster outage (below: no commit on any node) and are judged ` +
          'from the moment the cluster committed again.'
        : ''),
    `Longest time without a leader anywhere in the run (faults included, not only after heals): ` +
      `${liveness.longestLeaderlessMs} ms, from ${(liveness.longestLeaderlessFrom / 1000).toFixed(1)} s.`,
    '',
    ...(summary.nodeLosses
      ? [
          '## Leader while a node is lost (Galera)',
          '',
          `Every gap without a leader that began while a node was lost (SIGKILL to rejoined, SIGSTOP to SIGCONT, ` +
            `restart under a skewed clock to rejoined) must end within its bound (${summary.nodeLosses.bounds}: L + 10 s ` +
            "for a killed or restarted node, L + 15 s, Galera's inactive timeout, for a frozen one) of its start, or of " +
            'the loss when the leader was already gone.',
          `${summary.nodeLosses.judged} node faults judged (${summary.nodeLosses.unjudged} too close to the end); no ` +
            `leaderless time at all during ${summary.nodeLosses.withoutLoss}; longest gap per fault: median ` +
            `${summary.nodeLosses.p50Ms} ms, max ${summary.nodeLosses.maxMs} ms.`,
          '',
        ]
      : []),
    ...(summary.clusterRecoveries ? recoveryLines(summary.clusterRecoveries) : []),
    ...(summary.commitProbe ? probeLines(summary.commitProbe) : []),
  ];
  const failing = summary.checks.filter((check) => !check.ok);
  if (failing.length > 0) {
    lines.push('## Violations (first 50 per check)', '');
    for (const check of failing) {
      lines.push(`### ${check.name}`, '', '```json', JSON.stringify(check.violations, null, 2), '```', '');
    }
  }
  return `${lines.join('\n')}\n`;
}
