import type { ConnectionsResult, CostResult } from '../scenarios/cost';
import type { FailoverResult, HandoverResult } from '../scenarios/failover';
import type { HandoverLimitResult } from '../scenarios/handover';
import type { IdleResult } from '../scenarios/idle';
import type { MultiResult } from '../scenarios/multi';
import type { MicroResult } from '../scenarios/micro';
import type { OnceResult } from '../scenarios/once';
import type { BalancedResult } from '../scenarios/balanced';
import type { ScaleResult, WindowCost } from '../scenarios/scale';
import type { OverlapReport } from './overlaps';
import type { Mode, Settings } from './settings';
import { summarize } from './util';

/** Everything measured in one standby mode. */
export interface ModeResults {
  readonly mode: Mode;
  failover?: FailoverResult;
  handover?: HandoverResult;
  cost3?: CostResult;
  costBig?: CostResult;
  connections?: ConnectionsResult;
  multi?: MultiResult;
  /** Largest peak RSS among the one-election candidates of the 3-candidate cluster (bytes). */
  peakRssOneElection?: number;
  overlaps?: OverlapReport;
}

export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly mariadb: string;
  /** Median round trips on the private server (SELECT by key; autocommit UPDATE with its log flush). */
  readonly dbLatency: { readonly selectMs: number; readonly updateMs: number } | undefined;
  readonly os: string;
}

/** A value against a target; `pass` is null where there is no target or nothing was measured. */
export interface Cell {
  readonly value: string;
  readonly pass: boolean | null;
}

export interface TargetRow {
  /** What the row is about: failover, handover, cost, elections, memory, overhead, safety. */
  readonly area: string;
  readonly measure: string;
  readonly target: string;
  /** One per mode for per-mode rows; a single cell for mode-independent rows. */
  readonly cells: readonly Cell[];
  /** Likely cause when a cell fails, from the design (shown under the table). */
  readonly why?: string;
}

export interface BenchResults {
  readonly generatedAt: string;
  readonly durationS: number;
  readonly command: string;
  /** Commit of the library source that was compiled for the candidates. */
  readonly librarySource: string;
  readonly settings: Settings;
  readonly machine: Machine;
  readonly modes: ModeResults[];
  readonly micro: MicroResult | undefined;
  /** Graceful handover at the default timings, SIGTERM to the successor's granted hook. */
  readonly handoverLimit?: HandoverLimitResult;
  /** Idle CPU and RSS of an app with and without the module. */
  readonly idle?: IdleResult;
  /** Run-once: start latency, catch-up after a crash, statements per run (first mode). */
  readonly once?: OnceResult;
  /** Balanced leadership: 64 shards on 4 candidates, a SIGKILL, a join (first mode). */
  readonly balanced?: BalancedResult;
  /** The scale runs, with their own run header. */
  readonly scale?: ScaleResult;
  readonly overlaps: OverlapReport;
  readonly errors: string[];
}

const ms = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value)
    ? 'n/a'
    : value >= 100
      ? `${Math.round(value)} ms`
      : `${value.toFixed(1)} ms`;
const rate = (value: number): string => `${value.toFixed(3)}/s`;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
const signedMb = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${(bytes / 1024 / 1024).toFixed(2)} MB`;
const round1 = (value: number): string => value.toFixed(1);
const NOT_RUN: Cell = { value: 'not run', pass: null };

/** Statement count allowed in a window of `seconds` at `perSecond`, plus one statement on the boundary. */
const allowed = (perSecond: number, seconds: number): number => perSecond * seconds + 1;

export function buildTargetRows(results: BenchResults): { perMode: TargetRow[]; single: TargetRow[] } {
  const { timing } = results.settings;
  const L = timing.leaseMs;
  const R = timing.renewMs;
  const P = timing.pollMs;
  const modes = results.modes;
  const per = (fn: (m: ModeResults) => Cell | undefined): Cell[] => modes.map((m) => fn(m) ?? NOT_RUN);
  const isPoll = (m: ModeResults) => m.mode.env === undefined || m.mode.env === 'poll';
  const perMode: TargetRow[] = [];

  perMode.push({
    area: 'failover',
    measure: `crash failover p90 (SIGKILL of the leader to the new leader's election, ${results.settings.rounds} rounds)`,
    target: `<= L + 0.3 s (${ms(L + 300)})`,
    cells: per((m) => {
      const f = m.failover;
      if (!f || f.failoverMs.n === 0) return undefined;
      return {
        value: `${ms(f.failoverMs.p90)} (${f.failoverRatioToL.p90.toFixed(3)} x L)`,
        pass: f.failoverMs.p90 <= L + 300,
      };
    }),
  });
  perMode.push({
    area: 'failover',
    measure: 'crash failover p50 / max',
    target: 'reported',
    cells: per((m) => {
      const f = m.failover;
      if (!f || f.failoverMs.n === 0) return undefined;
      return {
        value: `${ms(f.failoverMs.p50)} (${f.failoverRatioToL.p50.toFixed(3)} x L) / ${ms(f.failoverMs.max)} (${f.failoverRatioToL.max.toFixed(3)} x L)`,
        pass: null,
      };
    }),
  });
  perMode.push({
    area: 'failover',
    measure: 'crash takeover overshoot (new acquired_at - old expires_at, DB clock): p50 / p90 / min',
    target: 'p90 <= 50 ms, never negative',
    cells: per((m) => {
      const o = m.failover?.overshootMs;
      if (!o || o.n === 0) return undefined;
      return { value: `${ms(o.p50)} / ${ms(o.p90)} / ${ms(o.min)}`, pass: o.p90 <= 50 && o.min >= 0 };
    }),
    why: 'Followers read every P; a read that finds the lease valid schedules an attempt at its DB-reported expiry only when less than P remains, so the overshoot is the jitter plus the statement latency.',
  });
  perMode.push({
    area: 'handover',
    measure: `graceful handover p90 (SIGTERM of the leader to the new leader's election, ${results.settings.rounds} rounds)`,
    target: `<= P + 0.3 s (${ms(P + 300)})`,
    cells: per((m) => {
      const h = m.handover;
      if (!h || h.handoverMs.n === 0) return undefined;
      return { value: ms(h.handoverMs.p90), pass: h.handoverMs.p90 <= P + 300 };
    }),
  });
  perMode.push({
    area: 'handover',
    measure: 'graceful handover p50',
    target: `<= P/2 + 0.2 s (${ms(P / 2 + 200)})`,
    cells: per((m) => {
      const h = m.handover;
      if (!h || h.handoverMs.n === 0) return undefined;
      return { value: ms(h.handoverMs.p50), pass: h.handoverMs.p50 <= P / 2 + 200 };
    }),
    why: 'A polling follower learns of the release only at its next read, uniformly within P: the median is about P/2 plus the shutdown itself.',
  });
  perMode.push({
    area: 'handover',
    measure: 'graceful handover p50 / p90 / max',
    target: 'p50 <= 20 ms, p90 <= 50 ms',
    cells: per((m) => {
      const h = m.handover;
      if (!h || h.handoverMs.n === 0) return undefined;
      return {
        value: `${ms(h.handoverMs.p50)} / ${ms(h.handoverMs.p90)} / ${ms(h.handoverMs.max)}`,
        pass: h.handoverMs.p50 <= 20 && h.handoverMs.p90 <= 50,
      };
    }),
    why: 'Without a wake-up (the doorbell) a standby notices a release only at its next read, up to P later.',
  });
  for (const [key, label] of [
    ['cost3', '3 candidates'],
    ['costBig', `${results.settings.bigCluster} candidates`],
  ] as const) {
    perMode.push({
      area: 'cost',
      measure: `statements/s per leader, ${label}`,
      target: `<= 1/R (${rate(1000 / R)})`,
      cells: per((m) => {
        const c = m[key];
        if (!c?.leader) return undefined;
        return {
          value: `${rate(c.leader.perSecond)} (${c.leader.statements} in ${c.windowS.toFixed(1)} s)${c.stableRoles ? '' : ' roles moved'}`,
          pass: c.leader.statements <= allowed(1000 / R, c.windowS),
        };
      }),
    });
    perMode.push({
      area: 'cost',
      measure: `statements/s per follower (max of ${label === '3 candidates' ? '2' : results.settings.bigCluster - 1}), ${label}`,
      target: `<= 1/P + one aligned attempt per lease (${rate(1000 / P + 1000 / L)})`,
      cells: per((m) => {
        const c = m[key];
        if (!c || c.followers.length === 0) return undefined;
        return {
          value: `${rate(c.followerPerSecond.max)} (mean ${rate(c.followerPerSecond.mean)})`,
          pass: c.followerStatementsMax <= allowed(1000 / P + 1000 / L, c.windowS),
        };
      }),
    });
    perMode.push({
      area: 'cost',
      measure: `statements/s per standby (max), ${label}`,
      target: `<= 2/L (${rate(2000 / L)})`,
      cells: per((m) => {
        const c = m[key];
        if (!c || c.followers.length === 0) return undefined;
        return {
          value: rate(c.followerPerSecond.max),
          pass: c.followerStatementsMax <= allowed(2000 / L, c.windowS),
        };
      }),
      why: 'A polling standby reads every P (1/P per second); only aligned reads (doorbell standbys) bring it to about 2 per lease period.',
    });
  }
  perMode.push({
    area: 'cost',
    measure: 'connections per standby process, 4 elections (max seen, with its GET_LOCK waits)',
    target: '<= 1 + doorbell waits',
    cells: per((m) => {
      const c = m.connections;
      if (!c) return undefined;
      return {
        value: `${c.standby.maxConnections} (${c.standby.lockWaitsAtMax} waits); over budget in ${c.standbyOverBudget} of ${c.standby.samples} samples`,
        pass: c.standbyOverBudget === 0,
      };
    }),
  });
  perMode.push({
    area: 'elections',
    measure: `${results.settings.multiElections} elections, one process alone: statements per R (all renewals)`,
    target: '<= 2 per R',
    cells: per((m) => {
      const x = m.multi;
      if (!x) return undefined;
      return {
        value: `${x.alone.perR.toFixed(1)} per R (${x.alone.perSecond.toFixed(1)}/s)`,
        pass: x.alone.perR <= 2,
      };
    }),
    why: 'The target needs the renewals of all elections of a process batched into at most 2 statements per R (and their reads into 2 per P); the count is per process, over all 100 elections.',
  });
  perMode.push({
    area: 'elections',
    measure: `${results.settings.multiElections} elections, two processes: leader per R / follower per P`,
    target: '<= 2 per R / <= 2 per P',
    cells: per((m) => {
      const x = m.multi;
      if (!x) return undefined;
      return {
        value: `${x.pair.leaderPerR.toFixed(1)} per R / ${x.pair.followerPerP.toFixed(1)} per P (${x.pair.leaderPerSecond.toFixed(1)}/s, ${x.pair.followerPerSecond.toFixed(1)}/s)`,
        pass: x.pair.leaderPerR <= 2 && x.pair.followerPerP <= 2,
      };
    }),
    why: 'The target needs the renewals of all elections of a process batched into at most 2 statements per R (and their reads into 2 per P); the count is per process, over all 100 elections.',
  });
  perMode.push({
    area: 'memory',
    measure: `heap growth after GC, ${results.settings.multiElections} elections (leader / follower process)`,
    target: '< 2 MB',
    cells: per((m) => {
      const x = m.multi;
      if (!x) return undefined;
      return {
        value: `${signedMb(x.heap.leaderGrowth)} / ${signedMb(x.heap.followerGrowth)} over ${x.heap.windowS.toFixed(0)} s${x.heap.gcExposed ? '' : ' (no --expose-gc!)'}`,
        pass:
          x.heap.leaderGrowth < 2 * 1024 * 1024 &&
          x.heap.followerGrowth < 2 * 1024 * 1024 &&
          x.heap.gcExposed,
      };
    }),
  });
  perMode.push({
    area: 'memory',
    measure: 'peak RSS of one candidate process: 1 election / 100 elections (leader, follower)',
    target: 'reported',
    cells: per((m) => {
      if (m.peakRssOneElection === undefined && !m.multi) return undefined;
      const one = m.peakRssOneElection === undefined ? 'n/a' : mb(m.peakRssOneElection);
      const many = m.multi ? `${mb(m.multi.maxRss.leader)}, ${mb(m.multi.maxRss.follower)}` : 'n/a';
      return { value: `${one} / ${many}`, pass: null };
    }),
  });
  perMode.push({
    area: 'safety',
    measure: 'overlaps of leadership / terms with two holders / terms not increasing',
    target: '0 / 0 / 0',
    cells: per((m) => {
      const o = m.overlaps;
      if (!o) return undefined;
      return {
        value: `${o.overlaps} / ${o.termConflicts} / ${o.termsNotIncreasing} (${o.intervals} leaderships, ${o.rowObservations} row changes)`,
        pass: o.overlaps === 0 && o.termConflicts === 0 && o.termsNotIncreasing === 0,
      };
    }),
  });
  // Explanations are given only for rows that fail in a polling mode, where the cause is known.
  const withWhy = perMode.map((row) =>
    row.why && row.cells.some((cell, i) => cell.pass === false && isPoll(modes[i]))
      ? row
      : { ...row, why: undefined },
  );

  const single: TargetRow[] = [];
  const micro = results.micro;
  const ns = (value: number) => `${value.toFixed(1)} ns`;
  single.push({
    area: 'overhead',
    measure: 'isLeader() per call, on a leader / on a follower',
    target: '<= 200 ns',
    cells: [
      micro
        ? {
            value: `${ns(micro.isLeaderOnLeaderNs)} / ${ns(micro.isLeaderOnFollowerNs)}`,
            pass: micro.isLeaderOnLeaderNs <= 200 && micro.isLeaderOnFollowerNs <= 200,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'overhead',
    measure: '@LeaderOnly() wrapper overhead on a leader (wrapped minus plain method)',
    target: '<= 1 us',
    cells: [
      micro
        ? {
            value: `${ns(micro.wrapperOverheadOnLeaderNs)} (${ns(micro.wrapperOnLeaderNs)} vs ${ns(micro.plainMethodNs)})`,
            pass: micro.wrapperOverheadOnLeaderNs <= 1000 && micro.leaderPathChecked,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'overhead',
    measure: '@LeaderOnly() wrapper overhead on a follower (skipped call minus plain method)',
    target: '<= 500 ns',
    cells: [
      micro
        ? {
            value: `${ns(micro.wrapperOverheadOnFollowerNs)} (${ns(micro.wrapperOnFollowerNs)} vs ${ns(micro.plainMethodNs)})`,
            pass: micro.wrapperOverheadOnFollowerNs <= 500 && micro.followerPathChecked,
          }
        : NOT_RUN,
    ],
  });
  // The same hot path with an OpenTelemetry SDK in the apps: the module's metrics are observable gauges
  // and counters on transitions, so the calls themselves should cost the same.
  const metered = micro?.withMetrics;
  const sdkChecked = (m: NonNullable<typeof metered>) => m.metrics && m.metricsCollections > 0;
  single.push({
    area: 'overhead',
    measure:
      'with an OpenTelemetry SDK (metrics collected every second): isLeader() per call, on a leader / on a follower',
    target: '<= 200 ns',
    cells: [
      metered
        ? {
            value: `${ns(metered.isLeaderOnLeaderNs)} / ${ns(metered.isLeaderOnFollowerNs)} (${metered.metricsCollections} collections)`,
            pass:
              metered.isLeaderOnLeaderNs <= 200 && metered.isLeaderOnFollowerNs <= 200 && sdkChecked(metered),
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'overhead',
    measure:
      'with an OpenTelemetry SDK: @LeaderOnly() wrapper overhead on a leader / on a follower (wrapped minus plain method)',
    target: '<= 1 us / <= 500 ns',
    cells: [
      metered
        ? {
            value: `${ns(metered.wrapperOverheadOnLeaderNs)} / ${ns(metered.wrapperOverheadOnFollowerNs)}`,
            pass:
              metered.wrapperOverheadOnLeaderNs <= 1000 &&
              metered.wrapperOverheadOnFollowerNs <= 500 &&
              metered.leaderPathChecked &&
              metered.followerPathChecked &&
              sdkChecked(metered),
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'overhead',
    measure:
      'overhead of metrics on the hot path (with SDK minus without): isLeader() on a leader / wrapper on a leader / wrapper on a follower',
    target: 'reported',
    cells: [
      micro && metered
        ? {
            value:
              `${ns(metered.isLeaderOnLeaderNs - micro.isLeaderOnLeaderNs)} / ` +
              `${ns(metered.wrapperOnLeaderNs - micro.wrapperOnLeaderNs)} / ` +
              `${ns(metered.wrapperOnFollowerNs - micro.wrapperOnFollowerNs)}`,
            pass: null,
          }
        : NOT_RUN,
    ],
  });
  const limit = results.handoverLimit;
  for (const [index, size] of [3, results.settings.bigCluster].entries()) {
    const h = limit?.byCandidates[index];
    single.push({
      area: 'handover',
      measure: `graceful handover p50 / p90, SIGTERM of the leader to the successor's @OnLeadershipGranted() hook, ${size} candidates, default options (L = ${limit ? limit.timing.leaseMs : 10_000} ms, ${results.settings.rounds} rounds)`,
      target: 'p50 <= 5 ms, p90 <= 15 ms',
      cells: [
        h && h.grantedMs.n > 0
          ? {
              value: `${ms(h.grantedMs.p50)} / ${ms(h.grantedMs.p90)} (max ${ms(h.grantedMs.max)})`,
              pass: h.grantedMs.p50 <= 5 && h.grantedMs.p90 <= 15,
            }
          : NOT_RUN,
      ],
      why: "Floor: the signal, the release UPDATE (a log flush) freeing the lock, the woken standby's acquiring UPDATE (a log flush) and two process wake-ups after idle; the next row measures them without the library.",
    });
  }
  single.push({
    area: 'handover',
    measure: `floor of the graceful handover on this machine, p50 / p90: the same statements in two bare Node processes (bench/floor-candidate.ts: mysql2 only, no library, no Nest), SIGTERM of the one holding the row and the lock to the other's won compare-and-swap, the same idle time before each signal (${results.settings.rounds} rounds)`,
    target: 'reported',
    cells: [
      limit?.floorMs && limit.floorMs.n > 0
        ? {
            value: `${ms(limit.floorMs.p50)} / ${ms(limit.floorMs.p90)} (max ${ms(limit.floorMs.max)})`,
            pass: null,
          }
        : NOT_RUN,
    ],
  });
  const to = limit?.handoverTo;
  single.push({
    area: 'handover',
    measure: `handover to a chosen candidate, resign(election, { to }) in the leader to the named candidate's @OnLeadershipGranted() hook, 3 candidates, default options (${results.settings.rounds} tries): named one won / p50 / p90`,
    target: 'named candidate wins every try',
    cells: [
      to
        ? {
            value: `${to.won}/${to.tries} / ${ms(to.grantedMs.p50)} / ${ms(to.grantedMs.p90)} (max ${ms(to.grantedMs.max)})`,
            pass: to.won === to.tries,
          }
        : NOT_RUN,
    ],
  });
  const idle = results.idle;
  const perMin = (value: number) => `${value.toFixed(1)} ms/min`;
  single.push({
    area: 'cost',
    measure: `idle CPU added by the module to a Nest app (HTTP server, two 1 s intervals), default options, ${idle ? idle.windowMs / 1000 : 60} s (without the bench's forced GCs): standby / leader (app without the module: ${idle ? perMin(idle.bare.cpuMsPerMin) : 'n/a'})`,
    target: 'standby <= 20 ms/min, leader <= 40 ms/min',
    cells: [
      idle
        ? (() => {
            const standby = idle.standby.cpuMsPerMin - idle.bare.cpuMsPerMin;
            const leader = idle.leader.cpuMsPerMin - idle.bare.cpuMsPerMin;
            return {
              value: `${perMin(standby)} / ${perMin(leader)} (${perMin(idle.standby.cpuMsPerMin)} / ${perMin(idle.leader.cpuMsPerMin)} in all)`,
              pass: standby <= 20 && leader <= 40,
            };
          })()
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'memory',
    measure: `RSS after GC added by the module to the same app: standby / leader (app without the module: ${idle ? mb(idle.bare.rss) : 'n/a'})`,
    target: '<= 5 MB',
    cells: [
      idle
        ? {
            value: `${signedMb(idle.standby.rss - idle.bare.rss)} / ${signedMb(idle.leader.rss - idle.bare.rss)}`,
            pass: Math.max(idle.standby.rss, idle.leader.rss) - idle.bare.rss <= 5 * 1024 * 1024,
          }
        : NOT_RUN,
    ],
  });
  const once = results.once;
  single.push({
    area: 'run-once',
    measure: `steady leader: an occurrence starts after it is due, p99 (runs table started_at - occurrence, database clock; @Interval(${once?.onceMs ?? 100}), ${once?.runs ?? 0} runs)`,
    target: '<= 20 ms',
    cells: [
      once && once.runs > 0
        ? {
            value: `${ms(once.startDelayMs.p99)} (p50 ${ms(once.startDelayMs.p50)})`,
            pass: once.startDelayMs.p99 <= 20,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'run-once',
    measure: `after a SIGKILL of the leader, the first missed occurrence runs after the old lease expired, max of ${once?.crashes ?? 0} (started_at - expires_at, database clock; missed: 'all')`,
    target: `<= L + 100 ms (${ms(L + 100)}), no occurrence run twice`,
    cells: [
      once && once.crashes > 0
        ? {
            value: `${ms(once.afterExpiryMs.max)} (p50 ${ms(once.afterExpiryMs.p50)}); ${once.duplicates} run twice`,
            pass: once.afterExpiryMs.max <= L + 100 && once.duplicates === 0,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'run-once',
    measure: `statements per run on the leader (USER_STATISTICS: leader with the once-job minus leader without, over the same ${once ? round1(once.withOnce.windowS) : '?'} s, per run; the SELECTs apart: the database clock read, once a minute, not per run)`,
    target: '<= 2 per run, + 1 SELECT per minute',
    cells: [
      once && Number.isFinite(once.statementsPerRun)
        ? {
            value: `${once.statementsPerRun.toFixed(2)} in all: ${once.writesPerRun.toFixed(2)} non-SELECT per run, ${once.extraSelects.toFixed(1)} extra SELECTs in the window`,
            pass: once.writesPerRun <= 2 && once.extraSelects <= Math.ceil(once.withOnce.windowS / 60) + 0.5,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'run-once',
    measure:
      'follower statements, app with a once-job vs the same app without (max follower over the window)',
    target: 'unchanged (within 10%, or 1 statement per window)',
    cells: [
      once
        ? (() => {
            const a = once.withOnce.followerStatementsMax;
            const b = once.without.followerStatementsMax;
            return {
              value: `${a} vs ${b} (${rate(once.withOnce.followerPerSecond.max)} vs ${rate(once.without.followerPerSecond.max)})`,
              pass: a <= Math.max(b * 1.1, b + 1),
            };
          })()
        : NOT_RUN,
    ],
  });
  const balanced = results.balanced;
  const spread = (counts: readonly number[]) =>
    `${Math.min(...counts)}–${Math.max(...counts)} (${counts.join(' / ')})`;
  single.push({
    area: 'balanced',
    measure: `64 shards (elections: [{ prefix: 'shard-', count: 64 }]) on 4 candidates: shards led by each`,
    target: '16 ± 1',
    cells: [
      balanced
        ? {
            value: spread(balanced.countsOfFour),
            pass:
              balanced.countsOfFour.every((n) => n >= 15 && n <= 17) && balanced.countsOfFour.length === 4,
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'balanced',
    measure: 'SIGKILL of one of the 4: the other 3 lead all 64 shards again (last orphan elected - SIGKILL)',
    target: `<= L + 1 s (${L + 1000} ms)`,
    cells: [balanced ? { value: ms(balanced.failoverMs), pass: balanced.failoverMs <= L + 1000 } : NOT_RUN],
  });
  single.push({
    area: 'balanced',
    measure: 'then shards led by each of the 3',
    target: '21–22',
    cells: [
      balanced
        ? {
            value: spread(balanced.countsOfThree),
            pass: balanced.countsOfThree.every((n) => n >= 21 && n <= 22),
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'balanced',
    measure: 'a new candidate joins the 3: shards led by each of the 4 (and the time from its ready line)',
    target: '16 ± 1',
    cells: [
      balanced
        ? {
            value: `${spread(balanced.countsAfterJoin)} after ${ms(balanced.rejoinMs)}`,
            pass: balanced.countsAfterJoin.every((n) => n >= 15 && n <= 17),
          }
        : NOT_RUN,
    ],
  });
  single.push({
    area: 'safety',
    measure: 'overlaps of leadership, all runs (incl. terms with two holders, terms not increasing)',
    target: '0',
    cells: [
      {
        value: `${results.overlaps.overlaps + results.overlaps.termConflicts + results.overlaps.termsNotIncreasing} (${results.overlaps.intervals} leaderships checked)`,
        pass:
          results.overlaps.overlaps === 0 &&
          results.overlaps.termConflicts === 0 &&
          results.overlaps.termsNotIncreasing === 0,
      },
    ],
  });
  return { perMode: withWhy, single };
}

const verdict = (cell: Cell): string => (cell.pass === null ? '' : cell.pass ? ' **PASS**' : ' **FAIL**');
const cellText = (cell: Cell): string => `${cell.value.replace(/\|/g, '\\|')}${verdict(cell)}`;

/**
 * latest.md. `keptScaleSection`: the Scale section of the previous latest.md, kept as it was (with its own
 * run header) when this run did not include the scale runs.
 */
export function renderMarkdown(results: BenchResults, keptScaleSection?: string): string {
  const { settings, machine } = results;
  const { timing } = settings;
  const { perMode, single } = buildTargetRows(results);
  const lines: string[] = [];
  lines.push('# nestjs-leader-election benchmark');
  lines.push('');
  lines.push(
    `Generated ${results.generatedAt} by \`${results.command}\` in ${Math.round(results.durationS)} s` +
      `${settings.quick ? ' (**--quick**: shorter timing, fewer rounds, smaller clusters)' : ''}, ` +
      `library source ${results.librarySource}.`,
  );
  lines.push('');
  lines.push('## Settings');
  lines.push('');
  lines.push(
    `- L = ${timing.leaseMs} ms, R = ${timing.renewMs} ms, P = ${timing.pollMs} ms, M = ${timing.marginMs} ms` +
      `${settings.quick ? ' (quick settings; the library defaults are L = 10 s, R = 2 s, P = 2 s, M = 1 s)' : ''}`,
  );
  lines.push(
    `- ${settings.rounds} SIGKILL rounds and ${settings.rounds} SIGTERM rounds per mode, 3 candidates (the signalled leader is replaced each round)`,
  );
  lines.push(
    `- steady state: ${settings.costWindowMs / 1000} s windows with 3 and ${settings.bigCluster} candidates` +
      `${settings.bigCluster < 20 ? ' (reduced from 20 for --quick)' : ''}; one MySQL user per candidate, counted in information_schema.USER_STATISTICS (userstat) on a private MariaDB`,
  );
  lines.push(
    `- ${settings.multiElections} elections: ${settings.aloneWindowMs / 1000} s alone, then ${settings.heapWindowMs / 1000} s with a second process (heap window${settings.heapWindowMs < 120_000 ? ', shortened from 2 minutes for --quick' : ''})`,
  );
  lines.push(
    `- standby modes: ${results.modes.map((m) => `${m.mode.label}${m.mode.env ? ` (standbyMode: '${m.mode.env}')` : ' (library default)'}`).join(', ')}`,
  );
  lines.push(
    '- percentiles interpolate linearly between ranks; a steady-state target passes when the count in the window is at most target x window + 1 (one statement may fall on the boundary)',
  );
  lines.push('');
  lines.push('## Machine');
  lines.push('');
  lines.push(
    `${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB.toFixed(1)} GiB memory, Node ${machine.node}, ` +
      `MariaDB ${machine.mariadb} (private throwaway server), ${machine.os}`,
  );
  if (machine.dbLatency) {
    lines.push('');
    lines.push(
      `Round trip on the private server (median): SELECT by key ${machine.dbLatency.selectMs.toFixed(2)} ms, ` +
        `autocommit single-row UPDATE ${machine.dbLatency.updateMs.toFixed(2)} ms (innodb_flush_log_at_trx_commit = 1). ` +
        'A graceful handover needs at least the release UPDATE, a read and the acquiring UPDATE.',
    );
  }
  lines.push('');
  lines.push('## Targets');
  lines.push('');
  lines.push(`| area | measure | target | ${results.modes.map((m) => m.mode.label).join(' | ')} |`);
  lines.push(`|---|---|---|${results.modes.map(() => '---').join('|')}|`);
  for (const row of perMode) {
    lines.push(`| ${row.area} | ${row.measure} | ${row.target} | ${row.cells.map(cellText).join(' | ')} |`);
  }
  lines.push('');
  lines.push('| area | measure (in-process, independent of the standby mode) | target | measured |');
  lines.push('|---|---|---|---|');
  for (const row of single) {
    lines.push(`| ${row.area} | ${row.measure} | ${row.target} | ${cellText(row.cells[0])} |`);
  }
  const failing = perMode.filter((row) => row.why);
  if (failing.length > 0) {
    lines.push('');
    lines.push('Why rows fail in the polling mode (from the design):');
    lines.push('');
    for (const row of failing) lines.push(`- ${row.measure}: ${row.why}`);
  }
  const scaleSection = results.scale ? renderScaleSection(results.scale) : keptScaleSection;
  if (scaleSection) {
    lines.push('');
    lines.push(scaleSection);
  }
  lines.push('');
  lines.push('## Timeline');
  lines.push('');
  lines.push('![Leadership per instance over time, with SIGKILL and SIGTERM marks](timeline.svg)');
  lines.push('');
  lines.push('## Details');
  for (const m of results.modes) {
    lines.push('');
    lines.push(`### ${m.mode.label}`);
    lines.push('');
    if (m.failover) {
      lines.push(`- failover (ms): ${m.failover.rounds.map((r) => r.failoverMs.toFixed(0)).join(', ')}`);
      lines.push(
        `- overshoot (ms, DB clock): ${m.failover.rounds.map((r) => r.overshootMs.toFixed(1)).join(', ')}`,
      );
      const late = m.failover.rounds.filter((r) => r.renewedAfterRead).length;
      if (late > 0)
        lines.push(
          `- ${late} kill(s) landed after a renewal sent before the kill (expiry read after the kill)`,
        );
      for (const error of m.failover.errors) lines.push(`- failed SIGKILL round: ${error}`);
    }
    if (m.handover) {
      lines.push(`- handover (ms): ${m.handover.rounds.map((r) => r.handoverMs.toFixed(1)).join(', ')}`);
      lines.push(
        `- old leader revoked after SIGTERM (ms): ${m.handover.rounds.map((r) => (r.revokedMs === null ? 'n/a' : r.revokedMs.toFixed(1))).join(', ')}`,
      );
      lines.push(
        `- old leader exited after SIGTERM (ms): ${m.handover.rounds.map((r) => (r.exitMs === null ? 'n/a' : r.exitMs.toFixed(1))).join(', ')}`,
      );
      for (const error of m.handover.errors) lines.push(`- failed SIGTERM round: ${error}`);
    }
    for (const cost of [m.cost3, m.costBig]) {
      if (!cost) continue;
      const g = cost.global;
      lines.push(
        `- ${cost.candidates} candidates, ${cost.windowS.toFixed(1)} s: SHOW GLOBAL STATUS deltas without the bench's monitor: ` +
          `Questions ${g.Questions} (${g.questionsPerSecond.toFixed(2)}/s), Com_select ${g.Com_select}, ` +
          `Com_update ${g.Com_update}, Com_insert ${g.Com_insert}; USER_STATISTICS sum ${cost.candidatesTotal}` +
          `${cost.stableRoles ? '' : '; leadership moved during the window'}`,
      );
    }
    if (m.connections) {
      const c = m.connections;
      lines.push(
        `- 4 elections: standby ${c.standbyStatementsPerSecond.toFixed(3)} statements/s, leader ${c.leaderStatementsPerSecond.toFixed(3)}/s; ` +
          `leader process up to ${c.leader.maxConnections} connections`,
      );
    }
    if (m.multi) {
      const x = m.multi;
      lines.push(
        `- ${x.elections} elections heap after GC: leader ${mb(x.heap.leaderStart)} -> ${mb(x.heap.leaderEnd)}, ` +
          `follower ${mb(x.heap.followerStart)} -> ${mb(x.heap.followerEnd)}${x.stableRoles ? '' : '; leadership moved during the window'}`,
      );
    }
  }
  if (results.micro) {
    const u = results.micro;
    lines.push('');
    lines.push(
      `In-process (median of ${u.runs} runs of ${u.callsPerRun} calls, process.hrtime.bigint()): empty call ${u.emptyCallNs.toFixed(1)} ns, ` +
        `plain method ${u.plainMethodNs.toFixed(1)} ns, wrapped on leader ${u.wrapperOnLeaderNs.toFixed(1)} ns, ` +
        `wrapped on follower ${u.wrapperOnFollowerNs.toFixed(1)} ns.`,
    );
    const m = u.withMetrics;
    if (m) {
      lines.push(
        `With an OpenTelemetry SDK (MeterProvider + Prometheus exporter, collected ${m.metricsCollections} times): ` +
          `isLeader ${m.isLeaderOnLeaderNs.toFixed(1)} / ${m.isLeaderOnFollowerNs.toFixed(1)} ns, plain method ` +
          `${m.plainMethodNs.toFixed(1)} ns, wrapped on leader ${m.wrapperOnLeaderNs.toFixed(1)} ns, ` +
          `wrapped on follower ${m.wrapperOnFollowerNs.toFixed(1)} ns.`,
      );
    }
  }
  if (results.overlaps.details.length > 0) {
    lines.push('');
    lines.push('Overlap findings:');
    for (const detail of results.overlaps.details.slice(0, 50)) lines.push(`- ${detail}`);
  }
  const notes = [...settings.notes, ...results.errors.map((e) => `error: ${e}`)];
  if (notes.length > 0) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const note of notes) lines.push(`- ${note}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Where the Scale section starts and ends in latest.md: a scale-only run replaces just this part. */
export const SCALE_BEGIN = '<!-- scale:begin -->';
export const SCALE_END = '<!-- scale:end -->';

/** The Scale section of a latest.md (markers included), if it has one. */
export function scaleSectionOf(markdown: string | undefined): string | undefined {
  if (markdown === undefined) return undefined;
  const begin = markdown.indexOf(SCALE_BEGIN);
  const end = markdown.indexOf(SCALE_END, begin);
  return begin >= 0 && end > begin ? markdown.slice(begin, end + SCALE_END.length) : undefined;
}

/**
 * latest.md after a scale-only run: `previous` with its Scale section replaced by `section` (or `section`
 * added before the timeline, or at the end), everything else unchanged; a file of its own without `previous`.
 */
export function withScaleSection(previous: string | undefined, section: string): string {
  if (previous === undefined) {
    return (
      '# nestjs-leader-election benchmark\n\nOnly the scale runs so far (`npm run bench -- --scale`); ' +
      `a full \`npm run bench\` writes the other sections.\n\n${section}\n`
    );
  }
  const kept = scaleSectionOf(previous);
  if (kept) return previous.replace(kept, () => section);
  const timeline = previous.indexOf('\n## Timeline');
  return timeline >= 0
    ? `${previous.slice(0, timeline)}\n${section}\n${previous.slice(timeline)}`
    : `${previous.trimEnd()}\n\n${section}\n`;
}

/** Target rows of the scale runs (a section of their own, with its own run header). */
export function buildScaleRows(scale: ScaleResult): TargetRow[] {
  const { leaseMs: L, renewMs: R, pollMs: P } = scale.timing;
  const rows: TargetRow[] = [];
  const perMin = (value: number) => `${value.toFixed(1)} ms/min`;
  const moved = (w: WindowCost | undefined) =>
    w && !w.stableRoles ? ' (leadership moved during the window)' : '';
  const t = scale.thousand;
  const thousand = `${t?.elections ?? 1000} elections in one process`;
  const heapS = scale.heapWindowMs / 1000;
  const shortened =
    scale.heapWindowMs < 300_000 ? `, shortened from 5 minutes${scale.quick ? ' for --quick' : ''}` : '';
  rows.push({
    area: 'elections',
    measure: `${thousand} (Nest candidate; a second one follows all): statements per R as leader / per P as follower, ${t ? t.window.windowS.toFixed(0) : heapS} s`,
    target: '<= 2 per R / <= 2 per P',
    cells: [
      t
        ? {
            value: `${t.leader.perR.toFixed(2)} per R / ${t.follower.perP.toFixed(2)} per P (${rate(t.leader.perSecond)}, ${rate(t.follower.perSecond)})${moved(t.window)}`,
            pass:
              t.leader.statements <= allowed(2000 / R, t.window.windowS) &&
              t.follower.statements <= allowed(2000 / P, t.window.windowS),
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'cost',
    measure: `${thousand}: CPU of the whole process (process.cpuUsage()), leader / follower`,
    target: '<= 200 ms/min',
    cells: [
      t
        ? {
            value: `${perMin(t.leader.cpuMsPerMin)} / ${perMin(t.follower.cpuMsPerMin)}`,
            pass: t.leader.cpuMsPerMin <= 200 && t.follower.cpuMsPerMin <= 200,
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'memory',
    measure: `${thousand}: heap growth after GC over ${t ? t.window.windowS.toFixed(0) : heapS} s${shortened}, leader / follower`,
    target: '< 5 MB',
    cells: [
      t
        ? {
            value: `${signedMb(t.heap.leaderEnd - t.heap.leaderStart)} / ${signedMb(t.heap.followerEnd - t.heap.followerStart)}${t.heap.gcExposed ? '' : ' (no --expose-gc!)'}`,
            pass:
              t.heap.leaderEnd - t.heap.leaderStart < 5 * 1024 * 1024 &&
              t.heap.followerEnd - t.heap.followerStart < 5 * 1024 * 1024 &&
              t.heap.gcExposed,
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'memory',
    measure: `${thousand}: RSS at the end of the window, leader / follower`,
    target: 'reported',
    cells: [t ? { value: `${mb(t.leader.rss)} / ${mb(t.follower.rss)}`, pass: null } : NOT_RUN],
  });
  const h = scale.hundred;
  const n = h?.candidates ?? 100;
  const hundredTarget = 1000 / R + (n * 2000) / L;
  rows.push({
    area: 'cost',
    measure: `${n} candidate processes on one election (light candidate: the elector without Nest): server statements/s (SHOW GLOBAL STATUS Questions minus the bench's own), ${h ? h.window.windowS.toFixed(0) : scale.windowMs / 1000} s`,
    target: `<= 1/R + ${n} x 2/L (${rate(hundredTarget)})`,
    cells: [
      h
        ? {
            value: `${rate(h.window.serverPerSecond)} (${h.window.global.Questions} statements; leader ${rate(h.leader.perSecond)}, standby mean ${rate(h.standbys.perSecond.mean)} max ${rate(h.standbys.perSecond.max)})${moved(h.window)}`,
            pass: h.window.global.Questions <= allowed(hundredTarget, h.window.windowS),
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'cost',
    measure: `${n} candidates: CPU of each standby process (the elector's and Node's own: no Nest, no app), p50 / max; leader`,
    target: 'each standby <= 20 ms/min',
    cells: [
      h
        ? {
            value: `${perMin(h.standbys.cpuMsPerMin.p50)} / ${perMin(h.standbys.cpuMsPerMin.max)}; leader ${perMin(h.leader.cpuMsPerMin)}`,
            pass: h.standbys.cpuMsPerMin.max <= 20,
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'memory',
    measure: `${n} candidates: RSS per standby p50 / max; leader (light candidate, no Nest)`,
    target: 'reported',
    cells: [
      h
        ? {
            value: `${mb(h.standbys.rss.p50)} / ${mb(h.standbys.rss.max)}; leader ${mb(h.leader.rss)}`,
            pass: null,
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'connections',
    measure: `${n} candidates: connections per process (PROCESSLIST every second): standby max; leader`,
    target: 'standby <= 1 + its doorbell session (waiting in GET_LOCK or between waits)',
    cells: [
      h
        ? {
            value: `standby up to ${h.standbys.maxConnections}; ${h.standbys.overBudget} of ${h.standbys.count} standbys over budget in ${h.standbys.overBudgetSamples} samples; leader ${h.leader.maxConnections} (${h.leader.lockWaitsAtMax} waits); ${h.window.connectionSamples} samples`,
            pass: h.standbys.overBudget === 0,
          }
        : NOT_RUN,
    ],
  });
  const x = scale.ten;
  if (x) {
    const w = x.window;
    const per = summarize(w.processes.map((p) => p.perSecond));
    const cpu = summarize(w.processes.map((p) => p.cpuMsPerMin));
    const rss = summarize(w.processes.map((p) => p.rss));
    rows.push({
      area: 'cost',
      measure: `${x.processes} light candidates each in the same ${x.electionsEach} elections: server statements/s; per process mean / max`,
      target: 'reported',
      cells: [
        {
          value: `${rate(w.serverPerSecond)}; ${rate(per.mean)} / ${rate(per.max)}${moved(w)}`,
          pass: null,
        },
      ],
    });
    rows.push({
      area: 'cost',
      measure: `${x.processes} x ${x.electionsEach}: CPU per process p50 / max; RSS p50 / max; connections max`,
      target: 'reported',
      cells: [
        {
          value: `${perMin(cpu.p50)} / ${perMin(cpu.max)}; ${mb(rss.p50)} / ${mb(rss.max)}; ${Math.max(0, ...w.processes.map((p) => p.maxConnections))}`,
          pass: null,
        },
      ],
    });
  } else {
    rows.push({
      area: 'cost',
      measure: '10 processes each in 100 elections',
      target: 'reported',
      cells: [NOT_RUN],
    });
  }
  const c = scale.coldEmpty;
  rows.push({
    area: 'cold start',
    measure: `empty lease table, ${c?.instances ?? 10} instances started at once: first leader after the first instance's bootstrap, p50 / max of ${c?.rounds ?? 0} rounds (the winner's own start to its election)`,
    target: '<= 50 ms',
    cells: [
      c && c.rounds > 0
        ? {
            value: `${ms(c.firstLeaderMs.p50)} / ${ms(c.firstLeaderMs.max)} (${ms(c.winnerOwnMs.p50)} / ${ms(c.winnerOwnMs.max)})`,
            pass: c.firstLeaderMs.max <= 50,
          }
        : NOT_RUN,
    ],
  });
  const d = scale.coldDead;
  rows.push({
    area: 'cold start',
    measure: `lease row held by dead processes (all ${d?.instances ?? 10} SIGKILLed, as many started at once): first leader after the first bootstrap p50 / max, with the dead lease's time left then (p50 / max); takeover overshoot (new acquired_at - dead expires_at, DB clock) p50 / p90 / min, ${d?.rounds ?? 0} rounds`,
    target:
      "at the dead lease's expiry: overshoot p90 <= 50 ms, never negative (so <= L + 50 ms after bootstrap)",
    cells: [
      d && d.rounds > 0
        ? {
            value: `${ms(d.firstLeaderMs.p50)} / ${ms(d.firstLeaderMs.max)} (left ${ms(d.remainingAtBootstrapMs.p50)} / ${ms(d.remainingAtBootstrapMs.max)}); ${ms(d.overshootMs.p50)} / ${ms(d.overshootMs.p90)} / ${ms(d.overshootMs.min)}`,
            pass: d.overshootMs.p90 <= 50 && d.overshootMs.min >= 0 && d.firstLeaderMs.max <= L + 50,
          }
        : NOT_RUN,
    ],
  });
  rows.push({
    area: 'safety',
    measure: 'overlaps of leadership in the scale runs (incl. terms with two holders, terms not increasing)',
    target: '0',
    cells: [
      {
        value: `${scale.overlaps.found} (${scale.overlaps.intervals} leaderships checked)`,
        pass: scale.overlaps.found === 0,
      },
    ],
  });
  return rows;
}

/** The Scale section of latest.md, between SCALE_BEGIN and SCALE_END, with its own run header. */
export function renderScaleSection(scale: ScaleResult): string {
  const { timing } = scale;
  const lines: string[] = [SCALE_BEGIN, '## Scale', ''];
  lines.push(
    `Run ${scale.generatedAt} by \`${scale.command}\`, scale part ${Math.round(scale.durationS)} s` +
      `${scale.quick ? ' (**--quick**: shorter windows, same timing)' : ''}, library source ${scale.librarySource}; ` +
      `${scale.machine}.`,
  );
  lines.push('');
  lines.push(
    `L = ${timing.leaseMs} ms, R = ${timing.renewMs} ms, P = ${timing.pollMs} ms, M = ${timing.marginMs} ms; ` +
      `the library's default standby mode (no \`standbyMode\` option). Statements per process from ` +
      `USER_STATISTICS (one MySQL user per process), server-wide from SHOW GLOBAL STATUS deltas minus the ` +
      `bench's own, on a private MariaDB with only that run on it; CPU from each child's process.cpuUsage() ` +
      `after one forced GC and a settling time; heap after two full GCs. The 1,000-election run has a server ` +
      (scale.serial
        ? 'of its own and ran while the 100 candidates idled; their window came after it; the others ran before, alone.'
        : 'of its own; the 10 x 100 and cold-start runs ran before, alone; its processes started once the 100 ' +
          'candidates idled, and its window and theirs went on together (steady processes only).'),
  );
  lines.push('');
  lines.push('| area | measure | target | measured |');
  lines.push('|---|---|---|---|');
  for (const row of buildScaleRows(scale)) {
    lines.push(`| ${row.area} | ${row.measure} | ${row.target} | ${cellText(row.cells[0])} |`);
  }
  const details: string[] = [];
  const windowLine = (name: string, w: WindowCost) =>
    `- ${name}, ${w.windowS.toFixed(1)} s: SHOW GLOBAL STATUS deltas without the bench's own: Questions ${w.global.Questions} ` +
    `(${w.serverPerSecond.toFixed(2)}/s), Com_select ${w.global.Com_select}, Com_update ${w.global.Com_update}, ` +
    `Com_insert ${w.global.Com_insert}; USER_STATISTICS sum ${w.candidatesTotal}${w.stableRoles ? '' : '; leadership moved during the window'}`;
  if (scale.thousand) {
    const t = scale.thousand;
    details.push(windowLine(`${t.elections} elections, leader and follower`, t.window));
    details.push(
      `- ${t.elections} elections heap after GC: leader ${mb(t.heap.leaderStart)} -> ${mb(t.heap.leaderEnd)}, ` +
        `follower ${mb(t.heap.followerStart)} -> ${mb(t.heap.followerEnd)}; connections leader ${t.leader.maxConnections}, follower ${t.follower.maxConnections}`,
    );
  }
  if (scale.hundred) {
    const h = scale.hundred;
    details.push(windowLine(`${h.candidates} candidates on one election`, h.window));
    details.push(
      `- ${h.candidates} light candidates started at once, all ready after ${h.startS.toFixed(1)} s`,
    );
  }
  if (scale.ten) {
    const x = scale.ten;
    details.push(windowLine(`${x.processes} x ${x.electionsEach} elections`, x.window));
    for (const p of x.window.processes) {
      details.push(
        `  - ${p.label}: leads ${p.leads}, ${rate(p.perSecond)}, ${p.cpuMsPerMin.toFixed(1)} ms/min, ${mb(p.rss)}, ` +
          `${p.maxConnections} connections (${p.lockWaitsAtMax} waits)`,
      );
    }
  }
  if (scale.coldEmpty) {
    const c = scale.coldEmpty;
    details.push(
      `- cold start, empty table (ms): ${c.firstLeaderMs.n} rounds, mean ${c.firstLeaderMs.mean.toFixed(1)}, min ${c.firstLeaderMs.min.toFixed(1)}`,
    );
  }
  if (scale.coldDead) {
    const d = scale.coldDead;
    details.push(
      `- cold start on dead holders: first leader after bootstrap minus the lease's time left then, mean ` +
        `${(d.firstLeaderMs.mean - d.remainingAtBootstrapMs.mean).toFixed(1)} ms (host clock)`,
    );
  }
  for (const detail of scale.overlaps.details.slice(0, 20)) details.push(`- overlap: ${detail}`);
  for (const error of scale.errors) details.push(`- error: ${error}`);
  if (details.length > 0) lines.push('', ...details);
  lines.push('', SCALE_END);
  return lines.join('\n');
}
