// The acceptance tests of issue 13 with real OS processes: forced handovers by signals, skewed wall
// clocks (libfaketime), catch-up after a full stop, and recovery of a run whose leader was killed.
import { createTestDatabase, type TestDatabase } from './support/database';
import { sleep, waitUntil } from './support/candidates';
import { spawnOnceChild, type OnceChild } from './support/once-children';

const L = 1_500;
const TIMING = { LEASE_MS: String(L), RENEW_MS: '300', POLL_MS: '300', MARGIN_MS: '300' };
/** Forced handovers in the first scenario (the issue asks for 100). */
const HANDOVERS = Number(process.env.ONCE_HANDOVERS ?? 100);

/** A runs-table occurrence as epoch ms, whatever the session's time zone. */
const OCCURRENCE_MS = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', occurrence) DIV 1000)";

interface Effect {
  job: string;
  occurrence: number;
  instance: string;
}

describe('run-once jobs in real OS processes', () => {
  let db: TestDatabase;
  let children: OnceChild[] = [];
  const resumes: NodeJS.Timeout[] = [];
  let tables = 0;

  beforeAll(async () => {
    db = await createTestDatabase('run_once_proc');
  });
  afterEach(async () => {
    resumes.splice(0).forEach((timer) => clearTimeout(timer));
    await Promise.all(children.map((child) => child.kill('SIGKILL')));
    children = [];
  });
  afterAll(async () => {
    await db.drop();
  });

  /** Fresh lease, runs and side-effect tables; returns a spawner for children using them. */
  async function scenario(jobs: object[]) {
    const n = ++tables;
    const names = { TABLE: `lease_${n}`, RUNS_TABLE: `runs_${n}`, EFFECTS_TABLE: `effects_${n}` };
    await db.query(
      `CREATE TABLE ${names.EFFECTS_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, job VARCHAR(64) NOT NULL,
       occurrence BIGINT NOT NULL, instance VARCHAR(191) NOT NULL)`,
    );
    const env = { MYSQL_URL: db.url, ONCE_JOBS: JSON.stringify(jobs), ...TIMING, ...names };
    let count = 0;
    const spawn = async (faketime?: string) => {
      const child = await spawnOnceChild(`p${++count}`, env, { faketime });
      children.push(child);
      return child;
    };
    const effects = () =>
      db.query<Effect[]>(
        `SELECT job, occurrence, instance FROM ${names.EFFECTS_TABLE} ORDER BY job, occurrence`,
      );
    const runs = (where = '1 = 1') =>
      db.query<{ job: string; occurrence: string; attempt: number; outcome: string; term: string }[]>(
        `SELECT job, ${OCCURRENCE_MS} AS occurrence, attempt, outcome, term
         FROM ${names.RUNS_TABLE} WHERE ${where} ORDER BY job, occurrence, attempt`,
      );
    return { spawn, effects, runs };
  }

  /** The running child that leads with the highest term, and that term. */
  function currentLeader(): { child: OnceChild; term: number } | undefined {
    let best: { child: OnceChild; term: number } | undefined;
    for (const child of children) {
      if (!child.running() || !child.leads()) continue;
      const term = child.lines.filter((line) => line.type === 'elected').at(-1)!.term!;
      if (!best || term > best.term) best = { child, term };
    }
    return best;
  }

  /** The (job, occurrence) keys that appear more than once among the side effects. */
  function duplicates(effects: Effect[]): string[] {
    const seen = new Map<string, number>();
    for (const effect of effects) {
      const key = `${effect.job}@${effect.occurrence}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    return [...seen].filter(([, count]) => count > 1).map(([key]) => key);
  }

  /** Forces `count` handovers, cycling SIGKILL, SIGTERM, SIGSTOP (+SIGCONT after 2L); returns the kills. */
  async function forceHandovers(
    count: number,
    spawn: (index: number) => Promise<OnceChild>,
  ): Promise<number> {
    let kills = 0;
    const respawns: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const standbys = () => children.filter((child) => child.running() && !child.leads()).length;
      if (standbys() === 0) await Promise.all(respawns);
      await waitUntil(
        () => currentLeader() !== undefined && standbys() > 0,
        20_000,
        `a leader and a standby (${i})`,
      );
      await sleep(150); // let the leader run a few occurrences
      const { child: leader, term } = currentLeader()!;
      const slot = children.indexOf(leader);
      const action = (['SIGKILL', 'SIGTERM', 'SIGSTOP'] as const)[i % 3];
      if (action === 'SIGSTOP') {
        leader.stop();
        resumes.push(setTimeout(() => leader.resume(), 2 * L));
      } else {
        if (action === 'SIGKILL') kills++;
        await leader.kill(action);
        respawns.push(spawn(slot));
      }
      await waitUntil(
        () => {
          const next = currentLeader();
          return next !== undefined && next.child !== leader && next.term > term;
        },
        20_000,
        `a new leader after ${action} (${i})`,
      );
    }
    await Promise.all(respawns);
    return kills;
  }

  it(`AC1: through ${HANDOVERS} forced handovers (SIGKILL, SIGTERM, SIGSTOP+SIGCONT) no occurrence of a 200 ms interval or a per-second cron runs twice, and every one between the first and the last ran or is recorded abandoned`, async () => {
    const { spawn, effects, runs } = await scenario([
      { job: 'tick', interval: 200, missed: 'all' },
      { job: 'sec', cron: '* * * * * *', missed: 'all' },
    ]);
    await Promise.all([spawn(), spawn(), spawn()]);
    const kills = await forceHandovers(HANDOVERS, () => spawn());
    await sleep(1_000);
    await Promise.all(children.map((child) => child.kill('SIGTERM')));

    const done = await effects();
    expect(duplicates(done)).toEqual([]);
    const abandoned = await runs(`outcome = 'abandoned'`);
    expect(abandoned.length).toBeLessThanOrEqual(kills);
    let overlaps = 0;
    for (const [job, every] of [
      ['tick', 200],
      ['sec', 1_000],
    ] as const) {
      const ran = new Set(
        done.filter((effect) => effect.job === job).map((effect) => Number(effect.occurrence)),
      );
      const recorded = new Map(
        (await runs(`job = '${job}'`)).map((row) => [Number(row.occurrence), row.outcome]),
      );
      const first = Math.min(...ran);
      const last = Math.max(...ran);
      const holes: string[] = [];
      for (let at = first; at <= last; at += every) {
        const outcome = recorded.get(at);
        if (ran.has(at) || outcome === 'abandoned') continue;
        // A run still going when the next occurrence fell due (a slow INSERT on a loaded machine): that
        // occurrence is recorded skipped-overlap, as specified; counted, and bounded below.
        if (outcome === 'skipped-overlap') overlaps++;
        else holes.push(`${at}: ${outcome ?? 'no row'}`);
      }
      expect({ job, holes }).toEqual({ job, holes: [] });
      expect(ran.size).toBeGreaterThan(10);
    }
    expect(overlaps).toBeLessThanOrEqual(done.length / 50);
  }, 400_000);

  it('AC2: with two of three processes under faketime +30 s and -1 h, handovers run no occurrence twice', async () => {
    const { spawn, effects } = await scenario([
      { job: 'tick', interval: 200, missed: 'all' },
      { job: 'sec', cron: '* * * * * *', missed: 'all' },
    ]);
    const clocks = [undefined, '+30s', '-1h'];
    await Promise.all(clocks.map((faketime) => spawn(faketime)));
    await forceHandovers(12, (slot) => spawn(clocks[slot % 3]));
    await sleep(500);
    await Promise.all(children.map((child) => child.kill('SIGTERM')));
    const done = await effects();
    expect(done.length).toBeGreaterThan(20);
    expect(new Set(done.map((effect) => effect.instance)).size).toBeGreaterThanOrEqual(2);
    expect(duplicates(done)).toEqual([]);
  }, 120_000);

  it("AC3: after all instances stopped for 10 s, the one started runs all 10 missed per-second occurrences ('all'), 1 and records 9 ('latest'), none and records 10 ('skip')", async () => {
    const { spawn, runs } = await scenario([
      { job: 'all', cron: '* * * * * *', missed: 'all', maxCatchUp: 10 },
      { job: 'latest', cron: '* * * * * *', missed: 'latest' },
      { job: 'skip', cron: '* * * * * *', missed: 'skip' },
    ]);
    const a = await spawn();
    await waitUntil(() => a.leads(), 10_000, 'a to lead');
    // b is started now (a standby) and stopped, so that its start-up time does not add to the outage.
    const b = await spawn();
    b.stop();
    const ranAll = (count: number) =>
      ['all', 'latest', 'skip'].every((job) => a.lines.filter((l) => l.job === job).length >= count);
    await waitUntil(() => ranAll(2), 10_000, 'a to run each job twice');
    // Stop a right after it ran one occurrence of each job.
    const lastRun = () => a.lines.filter((line) => line.type === 'run').at(-1)!;
    const before = lastRun().occurrence!;
    await waitUntil(
      () =>
        ['all', 'latest', 'skip'].every((job) =>
          a.lines.some((l) => l.job === job && l.occurrence! > before),
        ),
      3_000,
      'a fresh occurrence of each job',
    );
    const stoppedAfter = lastRun();
    await a.kill('SIGTERM');
    // Resume b 10.4 s after that occurrence: occurrences +1 s ... +10 s were missed by everyone.
    await sleep(stoppedAfter.receivedAt + 10_400 - Date.now());
    b.resume();
    await waitUntil(() => b.leads(), 5_000, 'b to lead');
    await sleep(1_500);
    const last = stoppedAfter.occurrence!;
    const window = await runs(`${OCCURRENCE_MS} > ${last} AND ${OCCURRENCE_MS} <= ${last + 10_000}`);
    const outcomesOf = (job: string) => window.filter((row) => row.job === job).map((row) => row.outcome);
    expect(outcomesOf('all')).toEqual(Array(10).fill('succeeded'));
    expect(
      b.lines
        .filter((l) => l.job === 'all')
        .slice(0, 10)
        .map((l) => l.occurrence! - last),
    ).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 1_000));
    expect(outcomesOf('latest')).toEqual([...Array(9).fill('missed'), 'succeeded']);
    expect(outcomesOf('skip')).toEqual(Array(10).fill('missed'));
  }, 120_000);

  it('AC4: with recover: true, a leader SIGKILLed inside a run has that occurrence run again by the next leader within L + 1 s, and the runs table shows both attempts', async () => {
    const { spawn, runs } = await scenario([
      { job: 'slow', interval: 1_000, recover: true, busyMs: 3_000, missed: 'skip' },
    ]);
    const a = await spawn();
    await waitUntil(() => a.leads(), 10_000, 'a to lead');
    const b = await spawn();
    await waitUntil(() => a.lines.some((line) => line.type === 'run'), 5_000, 'a run on a');
    const inside = a.lines.find((line) => line.type === 'run')!;
    await sleep(100); // well inside the 3 s run
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    await waitUntil(
      () => b.lines.some((line) => line.type === 'run' && line.occurrence === inside.occurrence),
      L + 3_000,
      'b to run the killed occurrence again',
    );
    const rerun = b.lines.find((line) => line.type === 'run' && line.occurrence === inside.occurrence)!;
    expect(rerun.receivedAt - killedAt).toBeLessThanOrEqual(L + 1_000);
    const rows = await runs(`job = 'slow' AND ${OCCURRENCE_MS} = ${inside.occurrence}`);
    expect(rows.map((row) => [row.attempt, row.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'running'],
    ]);
  }, 60_000);
});
