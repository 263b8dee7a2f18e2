import { Inject, Injectable, type Type } from '@nestjs/common';
import { Cron, Interval, Timeout } from '@nestjs/schedule';
import { FakeClock, runTimers, runTimersUntil, type FakeProcessClock } from '../../testing/fake-clock';
import { MemoryLeaseStore } from '../../testing/memory-lease-store';
import { MemoryRunsStore } from '../../testing/memory-runs-store';
import { startMemoryNestApp, type MemoryNestApp } from '../../testing/nest-app';
import { LeaderOnly, type LeaderOnlyOptions } from '../decorators/leader-only.decorator';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { LeaderElectionService } from '../leader-election.service';
import type { RunRow } from '../store/runs-store';

const L = 10_000;
const SECOND = 1_000;

/** One call of a job's method: what `currentLeadership()` said, and the database's time at the call. */
interface Effect {
  readonly instance: string;
  readonly occurrence: number;
  readonly term: number;
  readonly dbAt: number;
}

/** A provider with one `once` job on `schedule`, appending to `effects`; `busyMs` makes each run last. */
function jobClass(
  schedule: MethodDecorator,
  options: LeaderOnlyOptions,
  effects: Effect[],
  store: MemoryLeaseStore,
  busy?: { ms: number; clock: FakeClock },
): Type {
  @Injectable()
  class Jobs {
    constructor(@Inject(LeaderElectionService) private readonly leaderElection: LeaderElectionService) {}

    @schedule
    @LeaderOnly({ once: true, ...options })
    async tick(): Promise<void> {
      const leadership = this.leaderElection.currentLeadership()!;
      effects.push({
        instance: this.leaderElection.candidateId,
        occurrence: leadership.occurrence!.getTime(),
        term: leadership.term,
        dbAt: store.dbNow(),
      });
      if (busy) await new Promise<void>((resolve) => busy.clock.setTimeout(resolve, busy.ms));
    }
  }
  return Jobs;
}

describe('@LeaderOnly({ once: true }) on the in-memory store and a fake clock', () => {
  let clock: FakeClock;
  let store: MemoryLeaseStore;
  let runs: MemoryRunsStore;
  let effects: Effect[];
  const apps: { app: MemoryNestApp; clock?: FakeProcessClock }[] = [];
  const noInvariant = () => undefined;
  const run = (ms: number) => runTimers(clock, ms, noInvariant);
  const runUntil = (predicate: () => boolean, limitMs: number, what: string) =>
    runTimersUntil(clock, predicate, limitMs, what, noInvariant);

  async function start(
    label: string,
    provider: Type,
    options: { processClock?: FakeProcessClock; module?: Record<string, unknown> } = {},
  ): Promise<MemoryNestApp> {
    const app = await startMemoryNestApp({
      store,
      runs,
      clock: options.processClock ?? clock,
      label,
      providers: [provider],
      options: options.module,
    });
    apps.push({ app, clock: options.processClock });
    return app;
  }

  /** Occurrences of `effects`, checked to be unique. */
  function occurrencesRun(): number[] {
    const occurrences = effects.map((effect) => effect.occurrence);
    expect(new Set(occurrences).size).toBe(occurrences.length);
    return occurrences;
  }

  const dbSecond = (offsetSeconds: number) => (Math.floor(store.dbNow() / SECOND) + offsetSeconds) * SECOND;
  const outcomes = (rows: RunRow[]) => rows.map((row) => row.outcome);

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryLeaseStore(clock);
    runs = new MemoryRunsStore(store);
    effects = [];
  });

  afterEach(async () => {
    for (const { clock: processClock } of apps) processClock?.resume();
    const closing = Promise.all(apps.map(({ app }) => app.close()));
    await run(3_000); // lets runs in progress end, so that the drain does not wait
    await closing;
    apps.length = 0;
  });

  it('runs each occurrence of an interval once on the leader, on the epoch-aligned grid of the database clock, with a claim and an outcome per run', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(5_500);

    const occurrences = occurrencesRun();
    expect(occurrences.length).toBeGreaterThanOrEqual(5);
    for (const occurrence of occurrences) expect(occurrence % SECOND).toBe(0);
    expect(occurrences.slice(1).map((at, i) => at - occurrences[i])).toEqual(
      occurrences.slice(1).map(() => SECOND),
    );
    // On time: never before the occurrence on the database's clock, and within a few ms after it.
    for (const effect of effects) {
      expect(effect.dbAt).toBeGreaterThanOrEqual(effect.occurrence);
      expect(effect.dbAt - effect.occurrence).toBeLessThan(20);
    }
    const rows = runs.all('Jobs.tick');
    expect(rows.map((row) => row.occurrence)).toEqual(occurrences);
    expect(new Set(outcomes(rows))).toEqual(new Set(['succeeded']));
    // Two statements per run (claim, outcome) plus the one read at grant; no resync within a minute.
    const kinds = runs.statements.map((statement) => statement.kind);
    expect(kinds.filter((kind) => kind === 'readState')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'claim')).toHaveLength(occurrences.length);
    expect(kinds.filter((kind) => kind === 'finish')).toHaveLength(occurrences.length);
    expect(kinds.filter((kind) => kind === 'dbNow')).toHaveLength(0);
  });

  it('fires a cron expression at its instants in its time zone, and gives currentLeadership().occurrence', async () => {
    const app = await start(
      'a',
      jobClass(Cron('*/2 * * * * *', { timeZone: 'Asia/Kolkata' }), {}, effects, store),
    );
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(6_500);
    const occurrences = occurrencesRun();
    expect(occurrences.length).toBeGreaterThanOrEqual(3);
    for (const occurrence of occurrences) expect(occurrence % (2 * SECOND)).toBe(0);
    expect(effects.every((effect) => effect.term === app.service.leadershipOf()!.term)).toBe(true);
  });

  it("makes the local scheduler's ticks and direct calls of a once method do nothing", async () => {
    const Jobs = jobClass(Interval(SECOND), {}, effects, store);
    const app = await start('a', Jobs);
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    const jobs = app.app.get<{ tick(): Promise<void> }>(Jobs);
    await jobs.tick();
    expect(effects).toEqual([]);
  });

  it('sends no runs-table statement from a follower', async () => {
    const Jobs = jobClass(Interval(SECOND), {}, effects, store);
    const a = await start('a', Jobs);
    await runUntil(() => a.service.isLeader(), L, 'a to lead');
    await start('b', Jobs);
    await run(5_000);
    expect(runs.statements.filter((statement) => statement.client === 'b')).toEqual([]);
    expect(effects.every((effect) => effect.instance === a.service.candidateId)).toBe(true);
  });

  it('hands over between hosts whose wall clocks are off by +1 h and -1 h without running an occurrence twice or losing one (missed: all)', async () => {
    const Jobs = jobClass(Interval(SECOND), { missed: 'all' }, effects, store);
    const clockA = clock.process({ monotonicOffsetMs: 5_000, wallOffsetMs: 3_600_000 });
    const clockB = clock.process({ monotonicOffsetMs: 77_777, wallOffsetMs: -3_600_000 });
    const a = await start('a', Jobs, { processClock: clockA });
    await runUntil(() => a.service.isLeader(), L, 'a to lead');
    const b = await start('b', Jobs, { processClock: clockB });
    await run(3_300);
    clockA.pause(); // a crashes between two occurrences: its lease runs out, b takes over after L
    await runUntil(() => b.service.isLeader(), 3 * L, 'b to lead');
    await run(3_300);
    // a wakes up believing it still leads for a moment: its overdue timers must not run anything.
    clockA.resume();
    await run(3_000);

    const occurrences = occurrencesRun().sort((x, y) => x - y);
    const span = (occurrences.at(-1)! - occurrences[0]) / SECOND + 1;
    expect(occurrences).toHaveLength(span); // no hole
    expect(new Set(effects.map((effect) => effect.instance)).size).toBe(2);
    const rows = runs.all('Jobs.tick');
    expect(new Set(outcomes(rows))).toEqual(new Set(['succeeded']));
  });

  describe('catch-up at grant after 10 s with no instance running', () => {
    async function catchUp(missed: 'skip' | 'latest' | 'all', maxCatchUp?: number) {
      // The last recorded occurrence is 10 s ago: the per-second occurrences since were never run.
      const last = dbSecond(-10);
      runs.seed({ job: 'Jobs.tick', occurrence: last });
      const app = await start('a', jobClass(Interval(SECOND), { missed, maxCatchUp }, effects, store));
      await runUntil(() => app.service.isLeader(), L, 'a to lead');
      await run(50);
      const handled = runs
        .all('Jobs.tick')
        .filter((row) => row.occurrence > last && row.occurrence <= last + 10 * SECOND);
      return { last, handled };
    }

    it("missed: 'all' runs the 10 missed occurrences in order", async () => {
      const { last, handled } = await catchUp('all');
      const expected = Array.from({ length: 10 }, (_, i) => last + (i + 1) * SECOND);
      expect(effects.map((effect) => effect.occurrence).slice(0, 10)).toEqual(expected);
      expect(outcomes(handled)).toEqual(expected.map(() => 'succeeded'));
    });

    it("missed: 'latest' runs the latest one and records the other 9 missed", async () => {
      const { last, handled } = await catchUp('latest');
      expect(effects.map((effect) => effect.occurrence).slice(0, 1)).toEqual([last + 10 * SECOND]);
      expect(outcomes(handled)).toEqual([...Array(9).fill('missed'), 'succeeded']);
    });

    it("missed: 'skip' runs none and records the 10 missed", async () => {
      const { handled } = await catchUp('skip');
      expect(effects.filter((effect) => effect.occurrence <= handled.at(-1)!.occurrence)).toEqual([]);
      expect(outcomes(handled)).toEqual(Array(10).fill('missed'));
    });

    it("missed: 'all' runs at most maxCatchUp per grant (the newest, in order) and records the rest missed", async () => {
      const { last, handled } = await catchUp('all', 3);
      expect(effects.map((effect) => effect.occurrence).slice(0, 3)).toEqual(
        [8, 9, 10].map((i) => last + i * SECOND),
      );
      expect(outcomes(handled)).toEqual([...Array(7).fill('missed'), ...Array(3).fill('succeeded')]);
    });

    it('after a day without any instance, a per-second cron is caught up in bounded time: the newest 1000 occurrences recorded missed', async () => {
      const last = dbSecond(-86_400);
      runs.seed({ job: 'Jobs.tick', occurrence: last });
      const app = await start('a', jobClass(Cron('* * * * * *'), { missed: 'skip' }, effects, store));
      await runUntil(() => app.service.isLeader(), L, 'a to lead');
      const started = performance.now();
      await runUntil(() => runs.all('Jobs.tick').length > 1, SECOND, 'the catch-up');
      expect(performance.now() - started).toBeLessThan(3_000);
      const missed = runs.all('Jobs.tick').filter((row) => row.outcome === 'missed');
      expect(missed).toHaveLength(1_000);
      expect(missed.at(-1)!.occurrence).toBeGreaterThan(store.dbNow() - 2 * SECOND);
    });

    it('starts a job without any recorded row from now, without catching up', async () => {
      const app = await start('a', jobClass(Interval(SECOND), { missed: 'all' }, effects, store));
      await runUntil(() => app.service.isLeader(), L, 'a to lead');
      const since = store.dbNow();
      await run(2_500);
      expect(runs.all('Jobs.tick').every((row) => row.occurrence > since)).toBe(true);
      expect(effects.length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('a run left running by a leader that died', () => {
    it('is recorded abandoned by the next leader (recover: false)', async () => {
      const occurrence = dbSecond(-2);
      runs.seed({ job: 'Jobs.tick', occurrence, term: 0, holder: 'gone', outcome: 'running' });
      const app = await start('a', jobClass(Interval(SECOND), { missed: 'skip' }, effects, store));
      await runUntil(() => app.service.isLeader(), L, 'a to lead');
      await run(50);
      expect(runs.all('Jobs.tick').find((row) => row.occurrence === occurrence)).toMatchObject({
        attempt: 1,
        outcome: 'abandoned',
      });
      expect(effects.some((effect) => effect.occurrence === occurrence)).toBe(false);
    });

    it('is run again as attempt 2 with recover: true, and getRuns shows both attempts', async () => {
      const occurrence = dbSecond(-2);
      runs.seed({ job: 'Jobs.tick', occurrence, term: 0, holder: 'gone', outcome: 'running' });
      const app = await start(
        'a',
        jobClass(Interval(SECOND), { missed: 'skip', recover: true }, effects, store),
      );
      await runUntil(() => app.service.isLeader(), L, 'a to lead');
      await run(50);
      expect(effects.filter((effect) => effect.occurrence === occurrence)).toHaveLength(1);
      const history = (await app.service.getRuns('Jobs.tick', { limit: 100 })).filter(
        (entry) => entry.occurrence.getTime() === occurrence,
      );
      expect(history.map(({ attempt, outcome, candidateId }) => ({ attempt, outcome, candidateId }))).toEqual(
        [
          { attempt: 2, outcome: 'succeeded', candidateId: app.service.candidateId },
          { attempt: 1, outcome: 'abandoned', candidateId: 'gone' },
        ],
      );
    });
  });

  it('records an occurrence that falls due while the previous run still goes as skipped-overlap', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store, { ms: 2_500, clock }));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(7_200);
    const rows = runs.all('Jobs.tick');
    const first = rows.findIndex((row) => row.outcome === 'succeeded');
    expect(outcomes(rows.slice(first, first + 6))).toEqual([
      'succeeded',
      'skipped-overlap',
      'skipped-overlap',
      'succeeded',
      'skipped-overlap',
      'skipped-overlap',
    ]);
    occurrencesRun();
  });

  it('runs an occurrence claimed just before shutdown began, within the drain and before the lease is released', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(1_100);
    runs.holdNext('claim');
    await runUntil(() => runs.heldCount === 1, 2 * SECOND, 'a claim committed, its answer in flight');
    const closing = app.close();
    apps.length = 0;
    // Shutdown begins: the scheduler stops and the drain starts while the claim is still in flight.
    for (let i = 0; i < 200 && app.service.getState().status === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1)); // Nest's close() runs on real ticks
    }
    expect(app.service.getState().status).not.toBe('running');
    runs.releaseHeld();
    await run(3_000);
    await closing;
    const claimed = runs.all('Jobs.tick').at(-1)!;
    expect(claimed.outcome).toBe('succeeded');
    expect(effects.at(-1)?.occurrence).toBe(claimed.occurrence);
    // The lease was released only after the run: its row was written under a lease still held.
    const release = store.statements.find((statement) => statement.kind === 'release')!;
    expect(release).toBeDefined();
    expect(claimed.finishedAt).toBeLessThanOrEqual(release.dbExecutedAt!);
  });

  it('records a failed run with its error, and keeps running later occurrences', async () => {
    @Injectable()
    class Failing {
      calls = 0;
      @Interval(SECOND)
      @LeaderOnly({ once: true })
      boom(): void {
        this.calls++;
        throw new Error('report failed');
      }
    }
    const app = await start('a', Failing);
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(2_500);
    const history = await app.service.getRuns('Failing.boom');
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history[0]).toMatchObject({ outcome: 'failed', error: 'Error: report failed' });
    expect(app.app.get(Failing).calls).toBe(history.length);
  });

  it('claims no occurrence before it is due on the database clock when the estimate runs early, and resyncs', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(1_100);
    // The database clock steps back 300 ms (NTP on the server): this process's estimate is now early.
    store.dbClockOffsetMs -= 300;
    await run(4_000);
    for (const effect of effects) expect(effect.dbAt).toBeGreaterThanOrEqual(effect.occurrence);
    const occurrences = occurrencesRun();
    expect(occurrences.slice(1).map((at, i) => at - occurrences[i])).toEqual(
      occurrences.slice(1).map(() => SECOND),
    );
    expect(runs.statements.filter((statement) => statement.kind === 'dbNow').length).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('claims an occurrence whose claim ran a moment before it was due on the database, once the resync shows it is due', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(1_100);
    const before = effects.length;
    // The next claim executes 5 ms before its occurrence on the database (a slow round trip made this
    // process's estimate early); the resync that follows executes after it.
    let step: 'claim' | 'dbNow' | 'done' = 'claim';
    runs.beforeStatement = (kind) => {
      if (step === 'claim' && kind === 'claim') {
        store.dbClockOffsetMs -= 5;
        step = 'dbNow';
      } else if (step === 'dbNow' && kind === 'dbNow') {
        store.dbClockOffsetMs += 5;
        step = 'done';
      }
    };
    await run(3_000);
    expect(step).toBe('done');
    const occurrences = occurrencesRun();
    expect(occurrences.length).toBeGreaterThanOrEqual(before + 3);
    expect(occurrences.slice(1).map((at, i) => at - occurrences[i])).toEqual(
      occurrences.slice(1).map(() => SECOND),
    );
  });

  it('logs failing claims once per state change, not once per occurrence, and says when they work again', async () => {
    const app = await start('a', jobClass(Interval(200), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(500);
    runs.failNext(8); // the next 8 runs-table statements fail: several occurrences in a row
    await run(3_000);
    const lines = app.logger.lines.filter((line) => line.message.includes('Jobs.tick'));
    expect(lines.filter((line) => line.level === 'error')).toHaveLength(1);
    expect(lines.filter((line) => line.level === 'log' && /recorded again/.test(line.message))).toHaveLength(
      1,
    );
  });

  it('getJobs() gives per job the last occurrence, its outcome and the next occurrence', async () => {
    const app = await start('a', jobClass(Interval(SECOND), {}, effects, store));
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(2_500);
    const [job] = await app.service.getJobs();
    const last = effects.at(-1)!.occurrence;
    expect(job).toMatchObject({
      job: 'Jobs.tick',
      election: 'default',
      lastOutcome: 'succeeded',
      lastOccurrence: new Date(last),
      nextOccurrence: new Date(last + SECOND),
    });
  });

  it('prunes runs beyond historyLimit in the background after a grant', async () => {
    const start0 = dbSecond(-100);
    for (let i = 0; i < 50; i++) runs.seed({ job: 'Jobs.tick', occurrence: start0 + i * SECOND });
    const app = await start('a', jobClass(Interval(SECOND), { missed: 'skip' }, effects, store), {
      module: { historyLimit: 20 },
    });
    await runUntil(() => app.service.isLeader(), L, 'a to lead');
    await run(10);
    expect(runs.all('Jobs.tick').length).toBeGreaterThan(20);
    await run(6_000);
    expect(runs.all('Jobs.tick').length).toBeLessThanOrEqual(21);
  });

  describe('misplaced once fails at boot naming Class.method', () => {
    it('on @Timeout()', async () => {
      @Injectable()
      class OnTimeout {
        @Timeout(1_000)
        @LeaderOnly({ once: true })
        warm(): void {}
      }
      await expect(start('a', OnTimeout)).rejects.toThrow(LeaderElectionConfigError);
      await expect(start('a', OnTimeout)).rejects.toThrow(/OnTimeout\.warm.*@Timeout\(\)/);
    });

    it('on a method without a schedule', async () => {
      @Injectable()
      class Plain {
        @LeaderOnly({ once: true })
        handle(): void {}
      }
      await expect(start('a', Plain)).rejects.toThrow(/Plain\.handle needs a schedule/);
    });

    it('with once-only options but no once: true (at decoration)', () => {
      expect(() => {
        class Stray {
          @LeaderOnly({ missed: 'all' })
          run(): void {}
        }
        return Stray;
      }).toThrow(/Stray\.run: option "missed" only applies to run-once jobs/);
    });
  });
});
