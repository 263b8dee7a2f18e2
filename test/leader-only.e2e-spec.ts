import { Controller, Get, Inject, Injectable, Scope, type Type } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Cron, Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { performance } from 'node:perf_hooks';
import {
  LeaderElectionConfigError,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  NotLeaderError,
  OnLeadershipGranted,
  OnLeadershipRevoked,
  type LeadershipChange,
} from 'nestjs-leader-election';
import { createTestDatabase, type TestDatabase } from './support/database';
import { CandidatePool, FAST_TIMING, sleep, waitUntil, type Candidate } from './support/candidates';

/** One run of a job: which app, when it started and ended (monotonic ms). */
interface Run {
  readonly app: string;
  readonly start: number;
  readonly end: number;
}

/** A job body shared by the job classes: records its run, taking ~30 ms. */
async function recordRun(runs: Run[], app: string): Promise<void> {
  const start = performance.now();
  await sleep(30);
  runs.push({ app, start, end: performance.now() });
}

describe('@LeaderOnly() with real @nestjs/schedule, three apps in one process', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  let table = 0;

  beforeAll(async () => {
    db = await createTestDatabase('leader_only');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  /** Starts three apps that each run `jobClass` (its instance records into the shared `runs`). */
  async function startThree(jobClass: Type, runs: Run[], extraImports: Type[] = []) {
    const tableName = `lease_lo_${++table}`;
    await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        pool.startApp({
          options: { connection: db.url, tableName, candidateId: name, ...FAST_TIMING },
          imports: [ScheduleModule.forRoot() as never, ...extraImports],
          providers: [jobClass, { provide: 'RUNS', useValue: runs }, { provide: 'APP', useValue: name }],
        }),
      ),
    );
    await waitUntil(() => pool.all.some((c) => c.service.isLeader()), 5_000, 'a leader');
    return pool.all;
  }
  const leaderOf = () => pool.all.find((c) => !c.closed && c.service.isLeader());
  const appName = (c: Candidate) => c.app.get<string>('APP');

  function jobClass(kind: 'interval-below' | 'interval-above' | 'cron-below' | 'cron-above'): Type {
    const scheduled = kind.startsWith('interval') ? Interval(100) : Cron('* * * * * *');
    @Injectable()
    class Job {
      constructor(
        @Inject('RUNS') readonly runs: Run[],
        @Inject('APP') readonly app: string,
      ) {}
      tick() {
        return recordRun(this.runs, this.app);
      }
    }
    const proto = Job.prototype as unknown as Record<string, unknown>;
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'tick')!;
    // Decorators apply bottom-up: "below" means @LeaderOnly() is applied first (written under @Interval).
    const order = kind.endsWith('below') ? [LeaderOnly(), scheduled] : [scheduled, LeaderOnly()];
    for (const decorate of order) decorate(proto, 'tick', descriptor);
    Object.defineProperty(proto, 'tick', descriptor);
    return Job;
  }

  it.each(['interval-below', 'interval-above'] as const)(
    '@Interval(100) job (%s @Interval) runs on the leader only, and hands over without overlapping runs',
    async (kind) => {
      const runs: Run[] = [];
      await startThree(jobClass(kind), runs);
      const first = leaderOf()!;
      await sleep(5_000);
      const byApp = (name: string) => runs.filter((r) => r.app === name).length;
      expect(byApp(appName(first))).toBeGreaterThanOrEqual(20);
      for (const other of pool.all.filter((c) => c !== first)) expect(byApp(appName(other))).toBe(0);

      await first.close();
      await waitUntil(() => leaderOf() !== undefined, 5_000, 'a new leader');
      const second = leaderOf()!;
      await sleep(1_500);
      const oldRuns = runs.filter((r) => r.app === appName(first));
      const newRuns = runs.filter((r) => r.app === appName(second));
      expect(newRuns.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...oldRuns.map((r) => r.end))).toBeLessThan(Math.min(...newRuns.map((r) => r.start)));
      const third = pool.all.find((c) => c !== first && c !== second)!;
      expect(byApp(appName(third))).toBe(0);
    },
    30_000,
  );

  it.each(['cron-below', 'cron-above'] as const)(
    "@Cron('* * * * * *') job (%s @Cron) runs on the leader only",
    async (kind) => {
      const runs: Run[] = [];
      await startThree(jobClass(kind), runs);
      const leader = leaderOf()!;
      await sleep(4_200);
      const counts = pool.all.map((c) => runs.filter((r) => r.app === appName(c)).length);
      expect(runs.filter((r) => r.app === appName(leader)).length).toBeGreaterThanOrEqual(3);
      expect(counts.filter((n) => n > 0)).toHaveLength(1);
    },
    30_000,
  );

  it.each(['below', 'above'] as const)(
    '@Timeout job (@LeaderOnly %s @Timeout) runs once, on the leader only',
    async (order) => {
      const runs: Run[] = [];
      @Injectable()
      class OneShot {
        constructor(
          @Inject('RUNS') readonly runs: Run[],
          @Inject('APP') readonly app: string,
        ) {}
        once() {
          return recordRun(this.runs, this.app);
        }
      }
      const proto = OneShot.prototype as unknown as Record<string, unknown>;
      const descriptor = Object.getOwnPropertyDescriptor(proto, 'once')!;
      const decorators = order === 'below' ? [LeaderOnly(), Timeout(1_000)] : [Timeout(1_000), LeaderOnly()];
      for (const decorate of decorators) decorate(proto, 'once', descriptor);
      Object.defineProperty(proto, 'once', descriptor);

      await startThree(OneShot, runs);
      const leader = leaderOf()!;
      await sleep(2_000);
      expect(runs.map((r) => r.app)).toEqual([appName(leader)]);
    },
    30_000,
  );

  it('@OnEvent handler under @LeaderOnly() runs on the leader only', async () => {
    const runs: Run[] = [];
    @Injectable()
    class Listener {
      constructor(
        @Inject('RUNS') readonly runs: Run[],
        @Inject('APP') readonly app: string,
      ) {}
      @OnEvent('order.created')
      @LeaderOnly()
      onOrder() {
        this.runs.push({ app: this.app, start: performance.now(), end: performance.now() });
      }
    }
    await startThree(Listener, runs, [EventEmitterModule.forRoot() as never]);
    for (const c of pool.all) c.app.get(EventEmitter2).emit('order.created', {});
    await sleep(50);
    expect(runs.map((r) => r.app)).toEqual([appName(leaderOf()!)]);
  }, 30_000);

  it('a follower skipping 50+ ticks writes no log line at info level or above', async () => {
    const ticks = { count: 0 };
    @Injectable()
    class FastJob {
      @Interval(20)
      @LeaderOnly()
      tick() {
        ticks.count++;
      }
    }
    // Count every tick the scheduler delivers, before @LeaderOnly() decides: wrap the wrapper.
    const proto = FastJob.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const leaderOnlyWrapper = proto.tick;
    const delivered = { count: 0 };
    const counting = function (this: unknown, ...args: unknown[]) {
      delivered.count++;
      return leaderOnlyWrapper.apply(this, args);
    };
    for (const key of Reflect.getOwnMetadataKeys(leaderOnlyWrapper)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, leaderOnlyWrapper), counting);
    }
    proto.tick = counting;

    const tableName = `lease_lo_${++table}`;
    const leader = await pool.startApp({
      options: { connection: db.url, tableName, candidateId: 'leader', ...FAST_TIMING },
    });
    await waitUntil(() => leader.service.isLeader(), 5_000, 'the first app to lead');
    const follower = await pool.startApp({
      options: { connection: db.url, tableName, candidateId: 'follower', ...FAST_TIMING },
      imports: [ScheduleModule.forRoot() as never],
      providers: [FastJob],
    });
    await waitUntil(
      () => follower.service.getState().leaderId !== null,
      5_000,
      'the follower to see the leader',
    );
    const linesBefore = follower.logger.infoOrAbove().length;
    const start = delivered.count;
    await waitUntil(() => delivered.count - start >= 50, 10_000, '50 ticks');
    expect(ticks.count).toBe(0);
    expect(follower.logger.infoOrAbove().slice(linesBefore)).toEqual([]);
  }, 30_000);
});

describe('leadership context, signal, hooks and drain', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  let table = 0;

  beforeAll(async () => {
    db = await createTestDatabase('leadership_hooks');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  /** A long job that runs until its leadership signal aborts, recording when it noticed. */
  @Injectable()
  class LongJob {
    observedAbortAt: number | undefined;
    term: number | undefined;
    constructor(readonly leaderElection: LeaderElectionService) {}
    @LeaderOnly()
    async run(): Promise<void> {
      const leadership = this.leaderElection.currentLeadership()!;
      this.term = leadership.term;
      while (!leadership.signal.aborted) await sleep(5);
      this.observedAbortAt = performance.now();
    }
  }

  async function startLongJobApp(): Promise<{
    candidate: Candidate;
    job: LongJob;
    revokedAt: () => number | undefined;
  }> {
    const candidate = await pool.startApp({
      options: { connection: db.url, tableName: `lease_ctx_${++table}`, ...FAST_TIMING },
      providers: [LongJob],
    });
    let revokedAt: number | undefined;
    candidate.service.changes$.subscribe((event) => {
      if (event.type === 'revoked') revokedAt = performance.now();
    });
    await waitUntil(() => candidate.service.isLeader(), 5_000, 'leadership');
    return { candidate, job: candidate.app.get(LongJob), revokedAt: () => revokedAt };
  }

  it('a long job sees its signal abort within 100 ms of resign()', async () => {
    const { candidate, job, revokedAt } = await startLongJobApp();
    const running = job.run();
    await sleep(200);
    expect(job.term).toBe(candidate.service.getState().term);
    await candidate.service.resign();
    await running;
    expect(job.observedAbortAt! - revokedAt()!).toBeLessThan(100);
    expect(candidate.service.isLeader()).toBe(false);
  }, 30_000);

  it('a long job sees its signal abort within 100 ms of the lease being taken over', async () => {
    const { job, revokedAt } = await startLongJobApp();
    const running = job.run();
    await sleep(200);
    // Another holder takes the row (as a takeover would): the next renewal fails and leadership ends.
    await db.query(
      `UPDATE lease_ctx_${table} SET holder = 'intruder', term = term + 1,
       expires_at = UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE`,
    );
    await running;
    expect(revokedAt()).toBeDefined();
    expect(job.observedAbortAt! - revokedAt()!).toBeLessThan(100);
  }, 30_000);

  it('outside a @LeaderOnly() call there is no current leadership', async () => {
    const { candidate } = await startLongJobApp();
    expect(candidate.service.currentLeadership()).toBeUndefined();
  }, 30_000);

  it('granted/revoked hooks fire once per transition, in order, with the right term', async () => {
    const events: string[] = [];
    @Injectable()
    class Hooks {
      @OnLeadershipGranted()
      granted({ election, term }: LeadershipChange) {
        events.push(`granted:${election}:${term}`);
      }
      @OnLeadershipRevoked()
      async revoked({ election, term }: LeadershipChange) {
        await sleep(20);
        events.push(`revoked:${election}:${term}`);
      }
      @OnLeadershipGranted()
      failing() {
        throw new Error('hook failure is logged, not fatal');
      }
    }
    const tableName = `lease_ctx_${++table}`;
    const options = { connection: db.url, tableName, ...FAST_TIMING };
    const a = await pool.startApp({ options: { ...options, candidateId: 'a' }, providers: [Hooks] });
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const firstTerm = a.service.getState().term;
    await a.service.resign();
    // Alone, a campaigns again after one lease duration, with a new term.
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead again');
    const secondTerm = a.service.getState().term;
    await a.close();
    expect(secondTerm).toBe(firstTerm + 1);
    expect(events).toEqual([
      `granted:default:${firstTerm}`,
      `revoked:default:${firstTerm}`,
      `granted:default:${secondTerm}`,
      `revoked:default:${secondTerm}`,
    ]);
    expect(a.logger.lines.some((l) => l.level === 'error' && l.message.includes('Hooks.failing'))).toBe(true);
  }, 30_000);

  it('shutdown waits for a running leader-only call before releasing the lease, and starts no new call once it began', async () => {
    @Injectable()
    class Slow {
      started = 0;
      finishedAt: number | undefined;
      @LeaderOnly()
      async work() {
        this.started++;
        await sleep(800);
        this.finishedAt = performance.now();
        return 'ran';
      }
    }
    const tableName = `lease_ctx_${++table}`;
    const a = await pool.startApp({
      options: { connection: db.url, tableName, candidateId: 'a', ...FAST_TIMING },
      providers: [Slow],
    });
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const b = await pool.startApp({
      options: { connection: db.url, tableName, candidateId: 'b', ...FAST_TIMING },
    });
    let bLeadsAt: number | undefined;
    b.service.changes$.subscribe((e) => {
      if (e.type === 'elected') bLeadsAt = performance.now();
    });
    const slow = a.app.get(Slow);
    const work = slow.work();
    await sleep(50);
    const closing = a.close();
    await waitUntil(() => a.service.getState().status === 'draining', 5_000, 'a to start draining');
    // Shutdown has begun while the first call still runs (the lease is still held): a new call is refused.
    expect(await slow.work()).toBeUndefined();
    expect(slow.started).toBe(1);
    await closing;
    expect(await work).toBe('ran');
    await waitUntil(() => b.service.isLeader(), 5_000, 'b to lead');
    expect(bLeadsAt!).toBeGreaterThan(slow.finishedAt!);
    expect(await slow.work()).toBeUndefined();
    expect(slow.started).toBe(1);
  }, 30_000);
});

describe('@LeaderOnly() on HTTP handlers and misuse', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('leader_only_http');
  });
  afterAll(async () => {
    await db.drop();
  });

  it("onFollower: 'throw' answers 503 with the leader's id on followers and 200 on the leader", async () => {
    @Controller()
    class RebuildController {
      @Get('rebuild')
      @LeaderOnly({ onFollower: 'throw' })
      rebuild() {
        return { rebuilt: true };
      }
    }
    const apps = await Promise.all(
      ['h1', 'h2'].map(async (name) => {
        const moduleRef = await Test.createTestingModule({
          imports: [
            LeaderElectionModule.forRoot({
              connection: db.url,
              tableName: 'lease_http',
              candidateId: name,
              ...FAST_TIMING,
            }),
          ],
          controllers: [RebuildController],
        })
          .setLogger(false as never)
          .compile();
        const app = moduleRef.createNestApplication({ logger: false });
        await app.listen(0, '127.0.0.1');
        return app;
      }),
    );
    try {
      await waitUntil(() => apps.some((app) => app.get(LeaderElectionService).isLeader()), 5_000, 'a leader');
      const leader = apps.find((app) => app.get(LeaderElectionService).isLeader())!;
      const follower = apps.find((app) => app !== leader)!;
      await waitUntil(
        () => follower.get(LeaderElectionService).getState().leaderId !== null,
        5_000,
        'leader seen',
      );
      const ask = async (app: typeof leader) => {
        const response = await fetch(`${await app.getUrl()}/rebuild`);
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      expect(await ask(leader)).toEqual({ status: 200, body: { rebuilt: true } });
      const refused = await ask(follower);
      expect(refused.status).toBe(503);
      expect(refused.body.leaderId).toBe(leader.get(LeaderElectionService).candidateId);
      expect(refused.body.election).toBe('default');
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  }, 30_000);

  it("throws NotLeaderError from a method called on a follower with onFollower: 'throw'", async () => {
    @Injectable()
    class Strict {
      @LeaderOnly({ onFollower: 'throw' })
      act() {
        return 'acted';
      }
      @LeaderOnly({ onFollower: 'throw' })
      async actAsync() {
        return 'acted';
      }
    }
    // Nobody campaigns here: the module was never bootstrapped, so the instance is a follower.
    const moduleRef = await Test.createTestingModule({
      imports: [
        LeaderElectionModule.forRoot({ connection: db.url, tableName: 'lease_strict', ...FAST_TIMING }),
      ],
      providers: [Strict],
    }).compile();
    const strict = moduleRef.get(Strict);
    expect(() => strict.act()).toThrow(NotLeaderError);
    await expect(strict.actAsync()).rejects.toBeInstanceOf(NotLeaderError);
    await moduleRef.close();
  });

  it('rejects @LeaderOnly() on a request-scoped provider at boot, naming class and method', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @LeaderOnly()
      act() {}
    }
    const boot = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({ connection: db.url, tableName: 'lease_misuse', ...FAST_TIMING }),
        ],
        providers: [PerRequest],
      }).compile();
      await moduleRef.init();
      await moduleRef.close();
    };
    await expect(boot()).rejects.toThrow(LeaderElectionConfigError);
    await expect(boot()).rejects.toThrow(/PerRequest\.act .*request-scoped/);
  });

  it('rejects @LeaderOnly() naming an election that is not configured, at boot, naming class and method', async () => {
    @Injectable()
    class WrongElection {
      @LeaderOnly('billing')
      act() {}
    }
    const boot = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({ connection: db.url, tableName: 'lease_misuse', ...FAST_TIMING }),
        ],
        providers: [WrongElection],
      }).compile();
      await moduleRef.init();
      await moduleRef.close();
    };
    await expect(boot()).rejects.toThrow(LeaderElectionConfigError);
    await expect(boot()).rejects.toThrow(/@LeaderOnly\("billing"\) on WrongElection\.act .*"default"/);
  });
});
