import { Inject, Injectable, type Type } from '@nestjs/common';
import { Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Kysely, MysqlDialect } from 'kysely';
import { createPool } from 'mysql2';
import {
  createRunsTableMigration,
  createRunsTableSql,
  LeaderElectionConfigError,
  LeaderElectionService,
  LeaderOnly,
} from 'nestjs-leader-election';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { fromDatetime, MysqlRunsStore } from '../libs/leader-election/src/store/mysql-runs-store';
import { createTestDatabase, type TestDatabase } from './support/database';
import { CandidatePool, FAST_TIMING, sleep, waitUntil } from './support/candidates';

const EVERY_MS = 200;

/** One call of the job: which app ran which occurrence. */
interface Effect {
  readonly app: string;
  readonly occurrence: number;
}

function jobClass(effects: Effect[]): Type {
  @Injectable()
  class Ticker {
    constructor(
      @Inject(LeaderElectionService) private readonly leaderElection: LeaderElectionService,
      @Inject('APP') private readonly app: string,
    ) {}

    @LeaderOnly({ once: true, missed: 'all', maxCatchUp: 100 })
    @Interval(EVERY_MS)
    async tick(): Promise<void> {
      const { occurrence } = this.leaderElection.currentLeadership()!;
      effects.push({ app: this.app, occurrence: occurrence!.getTime() });
      await sleep(5);
    }
  }
  return Ticker;
}

describe('@LeaderOnly({ once: true }) on MariaDB', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  let tables = 0;

  beforeAll(async () => {
    db = await createTestDatabase('run_once');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  it('runs every 200 ms occurrence exactly once across two apps through a graceful handover and a resign, with the local scheduler running', async () => {
    const effects: Effect[] = [];
    const Ticker = jobClass(effects);
    const n = ++tables;
    const options = { tableName: `lease_${n}`, runsTableName: `runs_${n}` };
    const start = (name: string) =>
      pool.startApp({
        options: { ...options, candidateId: name },
        imports: [ScheduleModule.forRoot() as never],
        providers: [Ticker, { provide: 'APP', useValue: name }],
      });
    const a = await start('a');
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const b = await start('b');
    await sleep(1_500);
    await a.service.resign(); // b takes over at once (doorbell) or within a poll
    await waitUntil(() => b.service.isLeader(), 5_000, 'b to lead');
    await sleep(1_500);
    await b.close(); // graceful: a takes over
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead again');
    await sleep(1_500);
    await a.close();

    const occurrences = effects.map((effect) => effect.occurrence).sort((x, y) => x - y);
    expect(new Set(occurrences).size).toBe(occurrences.length);
    expect(new Set(effects.map((effect) => effect.app))).toEqual(new Set(['a', 'b']));
    for (const at of occurrences) expect(at % EVERY_MS).toBe(0);
    const rows = await db.query<{ occurrence: string; outcome: string; holder: string }[]>(
      `SELECT occurrence, outcome, holder FROM runs_${n} WHERE job = 'Ticker.tick' ORDER BY occurrence`,
    );
    // No hole between the first and the last occurrence: each ran (or, around a handover, was recorded).
    const recorded = rows.map((row) => fromDatetime(row.occurrence));
    expect(recorded).toEqual(Array.from({ length: recorded.length }, (_, i) => recorded[0] + i * EVERY_MS));
    const ran = rows.filter((row) => row.outcome === 'succeeded').map((row) => fromDatetime(row.occurrence));
    expect(ran).toEqual(occurrences);
    expect(rows.every((row) => ['succeeded', 'missed'].includes(row.outcome))).toBe(true);
  });

  it('the runs store: a claim commits only under the live term, only once the occurrence is due, and only once', async () => {
    const n = ++tables;
    const lease = new MysqlLeaseStore({
      connection: db.url,
      tableName: `lease_${n}`,
      operationTimeoutMs: 2_000,
    });
    const runs = new MysqlRunsStore({
      connection: db.url,
      leaseTableName: `lease_${n}`,
      runsTableName: `runs_${n}`,
      operationTimeoutMs: 2_000,
    });
    try {
      await lease.ensureSchema();
      await lease.ensureRow('default');
      expect(await lease.acquire('default', 'me', 0, 10_000)).toBe(true);
      await runs.ensureSchema();
      const fence = { election: 'default', holder: 'me', term: 1 };
      const now = Math.floor(await runs.dbNow());
      const row = { job: 'Report', occurrence: now - 1_000, attempt: 1, outcome: 'running' as const };
      expect(await runs.claim({ ...fence, term: 0 }, row, true)).toBe('refused'); // stale term
      expect(await runs.claim({ ...fence, holder: 'other' }, row, true)).toBe('refused');
      expect(await runs.claim(fence, { ...row, occurrence: now + 60_000 }, true)).toBe('refused'); // not due
      expect(await runs.claim(fence, row, true)).toBe('claimed');
      expect(await runs.claim(fence, row, true)).toBe('duplicate');
      // Job names compare byte for byte: 'report' is another job.
      expect(await runs.claim(fence, { ...row, job: 'report' }, true)).toBe('claimed');
      // After the lease was taken over, the old holder can neither claim nor record.
      await lease.release('default', 'me', 1);
      expect(await lease.acquire('default', 'next', 1, 10_000)).toBe(true);
      expect(await runs.claim(fence, { ...row, occurrence: now - 500 }, true)).toBe('refused');
      await runs.recordMissed(fence, 'Report', [now - 400, now - 300]);
      expect((await runs.list('Report', 10)).map((r) => r.occurrence)).toEqual([now - 1_000]);
      // The new leader finds the old term's unfinished run and records it abandoned.
      const next = { election: 'default', holder: 'next', term: 2 };
      const state = await runs.readState(['Report', 'Other'], 2);
      expect(state.jobs.get('Report')).toEqual({
        latest: now - 1_000,
        unfinished: [
          expect.objectContaining({ occurrence: now - 1_000, term: 1, holder: 'me', outcome: 'running' }),
        ],
      });
      expect(state.jobs.get('Other')).toEqual({ latest: undefined, unfinished: [] });
      expect(Math.abs(state.dbNow - now)).toBeLessThan(60_000);
      await runs.abandon(next, state.jobs.get('Report')!.unfinished);
      await runs.finish(row, 'succeeded', null); // too late: stays abandoned
      await runs.recordMissed(next, 'Report', [now - 400, now - 300]);
      expect((await runs.list('Report', 10)).map((r) => [r.occurrence, r.outcome])).toEqual([
        [now - 300, 'missed'],
        [now - 400, 'missed'],
        [now - 1_000, 'abandoned'],
      ]);
      expect(await runs.prune('Report', 2)).toBe(1);
    } finally {
      await runs.close();
      await lease.close();
    }
  });

  it('getRuns() and getJobs() read the runs table; with createTable: false a missing table is named with its DDL', async () => {
    const effects: Effect[] = [];
    const n = ++tables;
    const app = await pool.startApp({
      options: { tableName: `lease_${n}`, runsTableName: `runs_${n}`, candidateId: 'a' },
      providers: [jobClass(effects), { provide: 'APP', useValue: 'a' }],
    });
    await waitUntil(() => effects.length >= 3, 5_000, 'three runs');
    const history = await app.service.getRuns('Ticker.tick', { limit: 2 });
    expect(history).toHaveLength(2);
    expect(history[0].occurrence.getTime()).toBeGreaterThan(history[1].occurrence.getTime());
    expect(history[1]).toMatchObject({
      job: 'Ticker.tick',
      candidateId: app.service.candidateId,
      outcome: 'succeeded',
    });
    const [job] = await app.service.getJobs();
    expect(job.nextOccurrence.getTime() % EVERY_MS).toBe(0);
    expect(job.schedule).toBe(`every ${EVERY_MS} ms`);
    await app.close();

    const bare = new MysqlRunsStore({
      connection: db.url,
      leaseTableName: `lease_${n}`,
      runsTableName: 'runs_missing',
      operationTimeoutMs: 2_000,
    });
    await expect(bare.list('x', 1)).rejects.toThrow(createRunsTableSql('runs_missing').split('\n')[0]);
    await bare.close();
  });

  it("the table of createRunsTableMigration() keeps job names 'report', 'Report' and 'report ' apart; down drops it", async () => {
    const n = ++tables;
    const kysely = new Kysely<Record<string, never>>({
      dialect: new MysqlDialect({ pool: createPool({ uri: db.url, connectionLimit: 1 }) }),
    });
    const lease = new MysqlLeaseStore({
      connection: db.url,
      tableName: `lease_${n}`,
      operationTimeoutMs: 2_000,
    });
    const runs = new MysqlRunsStore({
      connection: db.url,
      leaseTableName: `lease_${n}`,
      runsTableName: `runs_${n}`,
      operationTimeoutMs: 2_000,
    });
    try {
      await createRunsTableMigration(`runs_${n}`).up(kysely);
      await lease.ensureSchema();
      await lease.ensureRow('default');
      expect(await lease.acquire('default', 'me', 0, 10_000)).toBe(true);
      const fence = { election: 'default', holder: 'me', term: 1 };
      const occurrence = Math.floor(await runs.dbNow()) - 1_000;
      for (const job of ['report', 'Report', 'report ']) {
        expect(await runs.claim(fence, { job, occurrence, attempt: 1, outcome: 'running' }, true)).toBe(
          'claimed',
        );
      }
      await createRunsTableMigration(`runs_${n}`).down!(kysely);
      await expect(runs.list('report', 1)).rejects.toThrow(/does not exist/);
    } finally {
      await kysely.destroy();
      await runs.close();
      await lease.close();
    }
  });

  it('fails at boot on once with @Timeout(), naming Class.method', async () => {
    @Injectable()
    class Warmup {
      @Timeout(100)
      @LeaderOnly({ once: true })
      warm(): void {}
    }
    await expect(
      pool.startApp({
        options: { tableName: `lease_${++tables}` },
        imports: [ScheduleModule.forRoot() as never],
        providers: [Warmup],
      }),
    ).rejects.toThrow(LeaderElectionConfigError);
  });
});
