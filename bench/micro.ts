// In-process cost of isLeader() and of the @LeaderOnly() wrapper, in its own OS process.
// Two Nest apps in this process take part in one election: the first leads, the second follows. The
// explorer of each binds its own Probe instance, so the wrapper runs its real leader and follower paths.
// With METRICS=1, a second leader/follower pair (table TABLE_metrics) has an OpenTelemetry SDK in each app
// (a MeterProvider with the Prometheus exporter, collected every second as a scrape would), and every
// measurement alternates between the two pairs run by run, so that load from other processes falls on
// both alike and their difference is the overhead of metrics.
// Env: MYSQL_URL, TABLE, LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS, METRICS. Prints one {"type":"micro"} line.
import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { LeaderElectionModule, LeaderElectionService, LeaderOnly } from 'nestjs-leader-election';

const now = (): number => performance.timeOrigin + performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: now() })}\n`);
};
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`bench micro: ${name} is required`);
  return value;
};

@Injectable()
class Probe {
  calls = 0;

  @LeaderOnly()
  guarded(): number {
    return ++this.calls;
  }

  /** The same body without the decorator: the reference the wrapper's overhead is measured against. */
  plain(): number {
    return ++this.calls;
  }
}

const alsoWithMetrics = process.env.METRICS === '1';
const meterProviders: MeterProvider[] = [];
const exporters: PrometheusExporter[] = [];

/** An SDK of the app's own, whose exporter is collected every second as a scrape would. */
function meterProvider(): MeterProvider {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  exporters.push(exporter);
  meterProviders.push(provider);
  return provider;
}

function moduleFor(name: string, metered: boolean): new () => object {
  @Module({
    imports: [
      LeaderElectionModule.forRoot({
        meterProvider: metered ? meterProvider() : undefined,
        connection: env('MYSQL_URL'),
        tableName: metered ? `${env('TABLE')}_metrics` : env('TABLE'),
        candidateId: name,
        leaseDurationMs: Number(env('LEASE_MS')),
        renewIntervalMs: Number(env('RENEW_MS')),
        pollIntervalMs: Number(env('POLL_MS')),
        safetyMarginMs: Number(env('MARGIN_MS')),
      }),
    ],
    providers: [Probe],
  })
  class MicroModule {}
  return MicroModule;
}

const CALLS = 200_000;
const RUNS = 31;

type Measured = { median: number; min: number; sink: number };

/**
 * Median nanoseconds per call of each function over RUNS runs of CALLS calls (after a warm-up), timed
 * with process.hrtime.bigint(); the functions take turns run by run. Between runs the event loop turns,
 * so that renewals keep the lease.
 */
async function measure<K extends string>(fns: Record<K, () => unknown>): Promise<Record<K, Measured>> {
  const keys = Object.keys(fns) as K[];
  const sinks = new Map<K, number>(keys.map((key) => [key, 0]));
  const samples = new Map<K, number[]>(keys.map((key) => [key, []]));
  for (const key of keys) {
    const fn = fns[key];
    let sink = 0;
    for (let i = 0; i < CALLS * 2; i++) if (fn()) sink++;
    sinks.set(key, sink);
  }
  for (let run = 0; run < RUNS; run++) {
    for (const key of keys) {
      const fn = fns[key];
      await new Promise((resolve) => setImmediate(resolve));
      let sink = 0;
      const start = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) if (fn()) sink++;
      samples.get(key)!.push(Number(process.hrtime.bigint() - start) / CALLS);
      sinks.set(key, sinks.get(key)! + sink);
    }
  }
  const result = {} as Record<K, Measured>;
  for (const key of keys) {
    const sorted = samples.get(key)!.sort((a, b) => a - b);
    result[key] = { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], sink: sinks.get(key)! };
  }
  return result;
}

async function waitFor(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`bench micro: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function main(): Promise<void> {
  const apps: INestApplicationContext[] = [];
  /** Collections that found the module's is-leader gauge (the SDK really read the instruments). */
  let collected = 0;
  const scrape = setInterval(() => {
    for (const exporter of exporters) {
      void exporter.collect().then(({ resourceMetrics }) => {
        const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === 'nestjs-leader-election');
        if (scope?.metrics.some((m) => m.descriptor.name === 'leader_election_is_leader')) collected++;
      });
    }
  }, 1_000);
  try {
    const startPair = async (metered: boolean) => {
      const suffix = metered ? '-metrics' : '';
      const leaderApp = await NestFactory.createApplicationContext(
        moduleFor(`micro-leader${suffix}`, metered),
        { logger: ['error'] },
      );
      apps.push(leaderApp);
      const leader = leaderApp.get(LeaderElectionService);
      await waitFor(() => leader.isLeader(), Number(env('LEASE_MS')) * 3 + 10_000, 'the first app to lead');
      const followerApp = await NestFactory.createApplicationContext(
        moduleFor(`micro-follower${suffix}`, metered),
        { logger: ['error'] },
      );
      apps.push(followerApp);
      const follower = followerApp.get(LeaderElectionService);
      await waitFor(
        () => follower.getState().leaderId === leader.candidateId,
        Number(env('POLL_MS')) * 3 + 10_000,
        'the second app to see the leader',
      );
      return { leader, follower, leaderProbe: leaderApp.get(Probe), followerProbe: followerApp.get(Probe) };
    };
    const pairs = alsoWithMetrics
      ? [await startPair(false), await startPair(true)]
      : [await startPair(false)];
    const nth = <T>(make: (pair: (typeof pairs)[number]) => T): Record<string, T> =>
      Object.fromEntries(pairs.map((pair, i) => [String(i), make(pair)]));

    const emptyCall = (await measure({ empty: () => 1 })).empty;
    const isLeaderOnLeader = await measure(nth((p) => () => p.leader.isLeader()));
    const isLeaderOnFollower = await measure(nth((p) => () => p.follower.isLeader()));
    const plainMethod = await measure(nth((p) => () => p.leaderProbe.plain()));
    const leaderCallsBefore = nth((p) => p.leaderProbe.calls);
    const wrapperOnLeader = await measure(nth((p) => () => p.leaderProbe.guarded()));
    const followerCallsBefore = nth((p) => p.followerProbe.calls);
    const wrapperOnFollower = await measure(nth((p) => () => p.followerProbe.guarded()));
    const expectedCalls = CALLS * (RUNS + 2);
    const resultOf = (i: number) => {
      const k = String(i);
      const { leaderProbe, followerProbe, leader, follower } = pairs[i];
      return {
        callsPerRun: CALLS,
        runs: RUNS,
        emptyCallNs: emptyCall.median,
        isLeaderOnLeaderNs: isLeaderOnLeader[k].median,
        isLeaderOnFollowerNs: isLeaderOnFollower[k].median,
        plainMethodNs: plainMethod[k].median,
        wrapperOnLeaderNs: wrapperOnLeader[k].median,
        wrapperOnFollowerNs: wrapperOnFollower[k].median,
        wrapperOverheadOnLeaderNs: wrapperOnLeader[k].median - plainMethod[k].median,
        wrapperOverheadOnFollowerNs: wrapperOnFollower[k].median - plainMethod[k].median,
        // The wrapper must really have run the method on the leader and skipped it on the follower.
        leaderPathChecked: leaderProbe.calls - leaderCallsBefore[k] === expectedCalls,
        followerPathChecked: followerProbe.calls - followerCallsBefore[k] === 0,
        stillLeader: leader.isLeader() && !follower.isLeader(),
        sink: emptyCall.sink + isLeaderOnLeader[k].sink + isLeaderOnFollower[k].sink,
      };
    };
    print({
      type: 'micro',
      ...resultOf(0),
      ...(alsoWithMetrics
        ? {
            // The SDK collected the module's instruments while the calls were timed.
            withMetrics: { ...resultOf(1), metrics: true, metricsCollections: collected },
          }
        : {}),
    });
  } finally {
    clearInterval(scrape);
    for (const app of apps.reverse()) await app.close();
    await Promise.all(meterProviders.map((provider) => provider.shutdown()));
  }
}

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    process.stderr.write(`bench micro failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
