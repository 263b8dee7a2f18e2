import type { LeaderElectionModuleOptions } from 'nestjs-leader-election';
import { createTestDatabase, type TestDatabase } from './support/database';
import { CandidatePool, FAST_TIMING, sleep, waitUntil, type Candidate } from './support/candidates';

describe('election among three Nest apps in one process (real MariaDB)', () => {
  let db: TestDatabase;
  // A lease long enough that a busy CI machine cannot end a leadership: with FAST_TIMING a leader steps
  // down when its process or the server stalls ~0.9 s (L - M - R), as it must, and takes the lease back
  // a moment later, which a 50 ms sample can catch (CI at 7a64bdf saw two samples without a leader).
  const pool = new CandidatePool(() => db.url, { ...FAST_TIMING, leaseDurationMs: 6_000 });

  beforeAll(async () => {
    db = await createTestDatabase('election');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  const startThree = (tableName: string) =>
    Promise.all([1, 2, 3].map((i) => pool.start(`app${i}`, tableName)));
  const leaders = () => pool.leaders();

  it('elects exactly one leader, seen at every 50 ms sample over 10 s', async () => {
    await startThree('lease_exactly_one');
    await waitUntil(() => leaders().length === 1, 5_000, 'a leader');
    const counts: number[] = [];
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      counts.push(leaders().length);
      await sleep(50);
    }
    expect(counts.length).toBeGreaterThan(150);
    expect(counts.filter((n) => n !== 1)).toEqual([]);
  }, 30_000);
});

describe('handover, killed connections, terms and several elections (real MariaDB)', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  const start = (tableName: string, name: string, extra: Partial<LeaderElectionModuleOptions> = {}) =>
    pool.start(name, tableName, extra);
  const leaders = () => pool.leaders();

  beforeAll(async () => {
    db = await createTestDatabase('handover');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  it('after the leader app closes, another app leads within P + 1 s', async () => {
    for (const name of ['a', 'b', 'c']) await start('lease_close', name);
    await waitUntil(() => leaders().length === 1, 5_000, 'a leader');
    const [leader] = leaders();
    await leader.close();
    const closedAt = Date.now();
    await waitUntil(() => leaders().length === 1, FAST_TIMING.pollIntervalMs + 1_000, 'a new leader');
    expect(Date.now() - closedAt).toBeLessThanOrEqual(FAST_TIMING.pollIntervalMs + 1_000);
    expect(leaders()[0]).not.toBe(leader);
  }, 30_000);

  it("killing the leader's lease connections (KILL CONNECTION) never yields two leaders, and leadership recovers", async () => {
    // One MySQL user per app, so that the leader's connections can be told apart in the process list.
    const names = ['ka', 'kb', 'kc'];
    const accounts = await Promise.all(names.map(() => db.createUser()));
    const urls = Object.fromEntries(names.map((name, i) => [name, accounts[i].url]));
    for (const name of names) await start('lease_kill', name, { connection: urls[name] });
    await waitUntil(() => leaders().length === 1, 5_000, 'a leader');

    let kills = 0;
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(leaders().length), 50);
    try {
      for (let round = 0; round < 5; round++) {
        const leader = leaders()[0];
        if (leader) {
          const user = accounts[pool.all.indexOf(leader)].user;
          const ids = await db.query<{ ID: number }[]>(
            'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?',
            [user],
          );
          for (const { ID } of ids) {
            await db.query(`KILL CONNECTION ${Number(ID)}`).catch(() => undefined);
            kills++;
          }
        }
        await sleep(1_000);
      }
      await waitUntil(() => leaders().length === 1, 5_000, 'a leader after the kills');
    } finally {
      clearInterval(sampler);
    }
    expect(kills).toBeGreaterThan(0);
    expect(samples.length).toBeGreaterThan(50);
    expect(samples.filter((n) => n > 1)).toEqual([]);
  }, 60_000);

  it('terms strictly increase over 5 handovers, one holder per term', async () => {
    const elected: { term: number; candidateId: string }[] = [];
    const watch = (candidate: Candidate) =>
      candidate.service.changes$.subscribe((event) => {
        if (event.type === 'elected')
          elected.push({ term: event.term, candidateId: event.state.candidateId });
      });
    for (const name of ['t1', 't2', 't3']) watch(await start('lease_terms', name));
    await waitUntil(() => elected.length === 1, 5_000, 'the first election');
    for (let handover = 0; handover < 5; handover++) {
      const before = elected.length;
      leaders()[0].close();
      watch(await start('lease_terms', `t${4 + handover}`));
      await waitUntil(
        () => elected.length === before + 1 && leaders().length === 1,
        5_000,
        `handover ${handover + 1}`,
      );
    }
    expect(elected).toHaveLength(6);
    for (let i = 1; i < elected.length; i++) {
      expect(elected[i].term).toBeGreaterThan(elected[i - 1].term);
      expect(elected[i].candidateId).not.toBe(elected[i - 1].candidateId);
    }
    const [row] = await db.query<{ term: number }[]>("SELECT term FROM lease_terms WHERE name = 'default'");
    expect(Number(row.term)).toBe(elected.at(-1)!.term);
  }, 60_000);

  it('two elections in one process elect independently', async () => {
    const elections = ['alpha', 'beta'];
    const first = await start('lease_two', 'x', { elections });
    await waitUntil(
      () => first.service.isLeader('alpha') && first.service.isLeader('beta'),
      5_000,
      'x to lead both',
    );
    const second = await start('lease_two', 'y', { elections });
    await waitUntil(() => second.service.getState('alpha').leaderId !== null, 5_000, 'y to see the leader');
    expect(second.service.isLeader('alpha')).toBe(false);

    await first.service.resign('alpha');
    await waitUntil(
      () => second.service.isLeader('alpha'),
      FAST_TIMING.pollIntervalMs + 1_000,
      'y to lead alpha',
    );
    expect(first.service.isLeader('alpha')).toBe(false);
    expect(first.service.isLeader('beta')).toBe(true);
    expect(second.service.isLeader('beta')).toBe(false);
    const rows = await db.query<{ name: string; holder: string }[]>(
      'SELECT name, holder FROM lease_two ORDER BY name',
    );
    expect(rows).toEqual([
      { name: 'alpha', holder: second.service.candidateId },
      { name: 'beta', holder: first.service.candidateId },
    ]);
  }, 30_000);

  it('waitForLeadership after shutdown rejects with an error saying the application shut down (no uncaught exception)', async () => {
    const candidate = await start('lease_wait_after', 'w');
    await waitUntil(() => candidate.service.isLeader(), 5_000, 'w to lead');
    const service = candidate.service;
    await candidate.close();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await expect(service.waitForLeadership()).rejects.toThrow(
        /waitForLeadership\("default"\): the application is shutting down or shut down/,
      );
      await sleep(50); // an error thrown inside an observer surfaces on a later tick
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }, 30_000);
});
