import type { ElectionMetrics, ObservedElection, TransitionReason } from './elector/election-metrics';
import type { CountedRunOutcome, OnceMetrics } from './once/once-metrics';
import type { LeaseErrorKind } from './store/lease-store';

/**
 * An OpenTelemetry `MeterProvider` (from `@opentelemetry/sdk-metrics`, or `metrics.getMeterProvider()` of
 * `@opentelemetry/api`), described by shape so that the package's types do not need `@opentelemetry/api`.
 */
export interface LeaderElectionMeterProvider {
  getMeter(name: string, version?: string, options?: object): object;
}

/**
 * The instrument names. In Prometheus style, unit included, as client-go's `leader_election_master_status`
 * is: the Prometheus exporter keeps them, adding `_total` to counters (README, "Metrics").
 */
export const METRIC_NAMES = Object.freeze({
  isLeader: 'leader_election_is_leader',
  masterStatus: 'leader_election_master_status',
  term: 'leader_election_term',
  transitions: 'leader_election_transitions',
  renewalDuration: 'leader_election_renewal_duration_seconds',
  renewalMargin: 'leader_election_renewal_margin_seconds',
  leaderlessTime: 'leader_election_leaderless_seconds',
  leaderlessDuration: 'leader_election_leaderless_duration_seconds',
  statementErrors: 'leader_election_statement_errors',
  onceRuns: 'leader_election_once_runs',
  onceMissed: 'leader_election_once_missed',
  onceLastSuccess: 'leader_election_once_last_success_timestamp_seconds',
});

/** The meter's name (the instrumentation scope). */
export const METER_NAME = 'nestjs-leader-election';

/** Bucket bounds in seconds for the latency histograms: 1 ms to 10 s. */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bucket bounds in seconds for the margin at renewal and leaderless stretches: 10 ms to 5 min. */
const SPAN_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

// The parts of the OpenTelemetry metrics API used here, by shape (see LeaderElectionMeterProvider).
type Attributes = Record<string, string>;
interface InstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}
interface Counter {
  add(value: number, attributes?: Attributes): void;
}
interface Histogram {
  record(value: number, attributes?: Attributes): void;
}
interface ObservableResult {
  observe(value: number, attributes?: Attributes): void;
}
interface Observable {
  addCallback(callback: (result: ObservableResult) => void): void;
  removeCallback(callback: (result: ObservableResult) => void): void;
}
interface Meter {
  createCounter(name: string, options?: InstrumentOptions): Counter;
  createHistogram(name: string, options?: InstrumentOptions): Histogram;
  createObservableGauge(name: string, options?: InstrumentOptions): Observable;
  createObservableCounter(name: string, options?: InstrumentOptions): Observable;
}

/**
 * The global MeterProvider of `@opentelemetry/api`, or `undefined` when the package is not installed
 * (it is an optional peer dependency: without it, no metrics and no cost).
 */
function globalMeterProvider(): LeaderElectionMeterProvider | undefined {
  let api: { metrics?: { getMeterProvider(): LeaderElectionMeterProvider } };
  try {
    // A plain require, not an import: an optional peer, loaded only where installed.
    api = require('@opentelemetry/api');
  } catch {
    return undefined;
  }
  return api.metrics?.getMeterProvider();
}

/**
 * The module's metrics on an OpenTelemetry meter: `meterProvider` when given, else the global one of
 * `@opentelemetry/api` as registered when the module starts (no-op without an SDK); `undefined` when
 * `@opentelemetry/api` is not installed and no provider was given.
 */
export function createLeaderElectionMetrics(
  meterProvider?: LeaderElectionMeterProvider,
): LeaderElectionMetrics | undefined {
  const provider = meterProvider ?? globalMeterProvider();
  return provider && new LeaderElectionMetrics(provider.getMeter(METER_NAME) as Meter);
}

/** Elections' and once-jobs' metrics on one OpenTelemetry meter. Nothing here runs on the hot path. */
export class LeaderElectionMetrics implements ElectionMetrics, OnceMetrics {
  private readonly transitions: Counter;
  private readonly renewalDuration: Histogram;
  private readonly renewalMargin: Histogram;
  private readonly leaderlessDuration: Histogram;
  private readonly statementErrors: Counter;
  private readonly onceRuns: Counter;
  private readonly onceMissed: Counter;
  private readonly gauges: { instrument: Observable; read: (result: ObservableResult) => void }[];
  private readonly observed = new Set<readonly ObservedElection[]>();
  /** Wall-clock ms of the last successful run per election and job, as seen by this process. */
  private readonly lastSuccess = new Map<string, { election: string; job: string; at: number }>();

  constructor(meter: Meter) {
    this.transitions = meter.createCounter(METRIC_NAMES.transitions, {
      description: 'Times this candidate became leader (reason "elected") or stopped being leader (why).',
    });
    this.renewalDuration = meter.createHistogram(METRIC_NAMES.renewalDuration, {
      description: "Round trip of the leader's renewal statement.",
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
    this.renewalMargin = meter.createHistogram(METRIC_NAMES.renewalMargin, {
      description:
        'Local validity left when a renewal confirmed the lease (t_send + L - M of the previous one, minus now); near 0: the leader nearly stepped down.',
      unit: 's',
      advice: { explicitBucketBoundaries: SPAN_BUCKETS_S },
    });
    this.leaderlessDuration = meter.createHistogram(METRIC_NAMES.leaderlessDuration, {
      description:
        'Stretches during which this candidate saw no valid lease, recorded when a leader is seen again.',
      unit: 's',
      advice: { explicitBucketBoundaries: SPAN_BUCKETS_S },
    });
    this.statementErrors = meter.createCounter(METRIC_NAMES.statementErrors, {
      description:
        'Failed lease statements, by class (not-applied, outcome-unknown, unreachable, configuration).',
    });
    this.onceRuns = meter.createCounter(METRIC_NAMES.onceRuns, {
      description: 'Occurrences of once-jobs this process ran or handled, by outcome.',
    });
    this.onceMissed = meter.createCounter(METRIC_NAMES.onceMissed, {
      description: 'Occurrences of once-jobs that passed while no leader ran them and will not run.',
    });
    const each = (
      result: ObservableResult,
      value: (election: ObservedElection) => number,
      key = 'election',
    ) => {
      for (const elections of this.observed) {
        for (const election of elections) result.observe(value(election), { [key]: election.name });
      }
    };
    const isLeader = (election: ObservedElection) => (election.isLeader() ? 1 : 0);
    this.gauges = [
      {
        instrument: meter.createObservableGauge(METRIC_NAMES.isLeader, {
          description: '1 while this candidate is the leader of the election, else 0.',
        }),
        read: (result) => each(result, isLeader),
      },
      {
        instrument: meter.createObservableGauge(METRIC_NAMES.masterStatus, {
          description:
            "client-go's name for is_leader: 1 when this candidate is master of the lease 'name', 0 when it is a backup.",
        }),
        read: (result) => each(result, isLeader, 'name'),
      },
      {
        instrument: meter.createObservableGauge(METRIC_NAMES.term, {
          description: 'The latest term (fencing token) this candidate has seen or taken.',
        }),
        read: (result) => each(result, (election) => election.term()),
      },
      {
        instrument: meter.createObservableCounter(METRIC_NAMES.leaderlessTime, {
          description: 'Time in all during which the reads of this candidate showed no valid lease.',
          unit: 's',
        }),
        read: (result) => each(result, (election) => election.leaderlessMs() / 1000),
      },
      {
        instrument: meter.createObservableGauge(METRIC_NAMES.onceLastSuccess, {
          description: 'Unix time of the last successful run of a once-job in this process.',
          unit: 's',
        }),
        read: (result) => {
          for (const { election, job, at } of this.lastSuccess.values()) {
            result.observe(at / 1000, { election, job });
          }
        },
      },
    ];
    for (const gauge of this.gauges) gauge.instrument.addCallback(gauge.read);
  }

  observe(elections: readonly ObservedElection[]): () => void {
    const list = [...elections];
    this.observed.add(list);
    return () => this.observed.delete(list);
  }

  transition(election: string, reason: TransitionReason): void {
    this.transitions.add(1, { election, reason });
  }

  renewal(election: string, latencyMs: number, marginMs: number | undefined): void {
    this.renewalDuration.record(latencyMs / 1000, { election });
    if (marginMs !== undefined) this.renewalMargin.record(Math.max(0, marginMs) / 1000, { election });
  }

  leaderlessEnded(election: string, ms: number): void {
    this.leaderlessDuration.record(ms / 1000, { election });
  }

  statementFailed(election: string, kind: LeaseErrorKind): void {
    this.statementErrors.add(1, { election, kind });
  }

  run(election: string, job: string, outcome: CountedRunOutcome, finishedAtWall: number): void {
    this.onceRuns.add(1, { election, job, outcome });
    if (outcome === 'succeeded')
      this.lastSuccess.set(`${election}\u0000${job}`, { election, job, at: finishedAtWall });
  }

  missed(election: string, job: string, count: number): void {
    this.onceMissed.add(count, { election, job });
  }

  /** Stops reporting the gauges, once-jobs' included (the module closed). */
  close(): void {
    for (const gauge of this.gauges) gauge.instrument.removeCallback(gauge.read);
    this.observed.clear();
  }
}
