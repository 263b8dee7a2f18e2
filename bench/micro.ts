// In-process cost of isLeader() and of the @LeaderOnly() wrapper, in its own OS process.
// Two Nest apps in this process take part in one election: the first leads, the second follows. The
// explorer of each binds its own Probe instance, so the wrapper runs its real leader and follower paths.
// Env: MYSQL_URL, TABLE, LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS. Prints one {"type":"micro"} line.
import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
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

function moduleFor(name: string): new () => object {
  @Module({
    imports: [
      LeaderElectionModule.forRoot({
        connection: env('MYSQL_URL'),
        tableName: env('TABLE'),
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

/**
 * Median nanoseconds per call of `fn` over RUNS runs of CALLS calls (after a warm-up), timed with
 * process.hrtime.bigint(). Between runs the event loop turns, so that renewals keep the lease.
 */
async function measure(fn: () => unknown): Promise<{ median: number; min: number; sink: number }> {
  let sink = 0;
  for (let i = 0; i < CALLS * 2; i++) if (fn()) sink++;
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await new Promise((resolve) => setImmediate(resolve));
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) if (fn()) sink++;
    samples.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0], sink };
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
  try {
    const leaderApp = await NestFactory.createApplicationContext(moduleFor('micro-leader'), {
      logger: ['error'],
    });
    apps.push(leaderApp);
    const leader = leaderApp.get(LeaderElectionService);
    await waitFor(() => leader.isLeader(), Number(env('LEASE_MS')) * 3 + 10_000, 'the first app to lead');
    const followerApp = await NestFactory.createApplicationContext(moduleFor('micro-follower'), {
      logger: ['error'],
    });
    apps.push(followerApp);
    const follower = followerApp.get(LeaderElectionService);
    await waitFor(
      () => follower.getState().leaderId === leader.candidateId,
      Number(env('POLL_MS')) * 3 + 10_000,
      'the second app to see the leader',
    );
    const leaderProbe = leaderApp.get(Probe);
    const followerProbe = followerApp.get(Probe);

    const emptyCall = await measure(() => 1);
    const isLeaderOnLeader = await measure(() => leader.isLeader());
    const isLeaderOnFollower = await measure(() => follower.isLeader());
    const plainMethod = await measure(() => leaderProbe.plain());
    const leaderCallsBefore = leaderProbe.calls;
    const wrapperOnLeader = await measure(() => leaderProbe.guarded());
    const leaderRan = leaderProbe.calls - leaderCallsBefore;
    const followerCallsBefore = followerProbe.calls;
    const wrapperOnFollower = await measure(() => followerProbe.guarded());
    const followerRan = followerProbe.calls - followerCallsBefore;
    const expectedCalls = CALLS * (RUNS + 2);
    print({
      type: 'micro',
      callsPerRun: CALLS,
      runs: RUNS,
      emptyCallNs: emptyCall.median,
      isLeaderOnLeaderNs: isLeaderOnLeader.median,
      isLeaderOnFollowerNs: isLeaderOnFollower.median,
      plainMethodNs: plainMethod.median,
      wrapperOnLeaderNs: wrapperOnLeader.median,
      wrapperOnFollowerNs: wrapperOnFollower.median,
      wrapperOverheadOnLeaderNs: wrapperOnLeader.median - plainMethod.median,
      wrapperOverheadOnFollowerNs: wrapperOnFollower.median - plainMethod.median,
      // The wrapper must really have run the method on the leader and skipped it on the follower.
      leaderPathChecked: leaderRan === expectedCalls,
      followerPathChecked: followerRan === 0,
      stillLeader: leader.isLeader() && !follower.isLeader(),
      sink: emptyCall.sink + isLeaderOnLeader.sink + isLeaderOnFollower.sink,
    });
  } finally {
    for (const app of apps.reverse()) await app.close();
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
