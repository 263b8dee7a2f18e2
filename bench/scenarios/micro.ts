import { BenchChild } from '../lib/child';
import type { BenchServer } from '../lib/db';
import type { Settings } from '../lib/settings';
import { waitUntil } from '../lib/util';

/** Nanoseconds per call (medians), from bench/micro.ts. */
export interface MicroResult {
  readonly callsPerRun: number;
  readonly runs: number;
  readonly emptyCallNs: number;
  readonly isLeaderOnLeaderNs: number;
  readonly isLeaderOnFollowerNs: number;
  readonly plainMethodNs: number;
  readonly wrapperOnLeaderNs: number;
  readonly wrapperOnFollowerNs: number;
  readonly wrapperOverheadOnLeaderNs: number;
  readonly wrapperOverheadOnFollowerNs: number;
  readonly leaderPathChecked: boolean;
  readonly followerPathChecked: boolean;
  readonly stillLeader: boolean;
  /** The same run with an OpenTelemetry SDK in each app (METRICS=1), when measured. */
  readonly withMetrics?: MicroRun;
}

/** The pair with an OpenTelemetry SDK, measured in turns with the one without. */
export type MicroRun = Omit<MicroResult, 'withMetrics'> & {
  readonly metrics: boolean;
  /** Collections (about one a second) in which the SDK found the module's instruments. */
  readonly metricsCollections: number;
};

/**
 * Runs bench/micro.ts: two Nest apps in one process (leader and follower), and a second such pair with an
 * OpenTelemetry SDK, measured in turns; returns the medians of both.
 */
export async function runMicro(server: BenchServer, settings: Settings): Promise<MicroResult> {
  const { user, url } = await server.createUser('m');
  const { timing } = settings;
  const child = new BenchChild('micro', user, 'micro', {
    METRICS: '1',
    MYSQL_URL: url,
    TABLE: 'lease_micro',
    LEASE_MS: String(timing.leaseMs),
    RENEW_MS: String(timing.renewMs),
    POLL_MS: String(timing.pollMs),
    MARGIN_MS: String(timing.marginMs),
  });
  try {
    const line = await waitUntil(
      () => {
        if (child.exitedAt !== undefined && !child.lines.some((l) => l.type === 'micro')) {
          throw new Error(`bench/micro.ts exited without a result:\n${child.errorOutput}`);
        }
        return child.lines.find((l) => l.type === 'micro');
      },
      3 * timing.leaseMs + 120_000,
      'the in-process measurements',
      50,
    );
    const { type: _type, t: _t, sink: _sink, ...result } = line;
    return result as unknown as MicroResult;
  } finally {
    await child.waitExit(10_000);
  }
}
