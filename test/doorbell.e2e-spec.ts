import type { LeaderElectionModuleOptions } from 'nestjs-leader-election';
import { createTestDatabase, type TestDatabase } from './support/database';
import { CandidatePool, sleep, waitUntil } from './support/candidates';
import { spawnChildCandidate, type ChildCandidate } from './support/child-candidate';

// L = 10 s and P = 5 s: a standby that polled, or waited for the lease to run out, would take seconds.
// Only the doorbell (a named lock the leader holds) can hand over within a fraction of P.
const SLOW_POLL = {
  leaseDurationMs: 10_000,
  renewIntervalMs: 1_000,
  pollIntervalMs: 5_000,
  safetyMarginMs: 1_000,
} as const;

describe('doorbell: standbys wake on a named lock (real MariaDB)', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, SLOW_POLL);
  const start = (name: string, tableName: string, extra: Partial<LeaderElectionModuleOptions> = {}) =>
    pool.start(name, tableName, extra);
  const leaders = () => pool.leaders();
  let table = 0;

  beforeAll(async () => {
    db = await createTestDatabase('doorbell');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  /** Sessions of this test's database blocked in GET_LOCK. */
  const waiters = async () =>
    db.query<{ ID: number; USER: string }[]>(
      "SELECT ID, USER FROM information_schema.PROCESSLIST WHERE DB = ? AND STATE = 'User lock'",
      [db.name],
    );
  it('hands over a gracefully stopped leader in far less than P, three times in a row', async () => {
    const tableName = `lease_bell_${++table}`;
    for (const name of ['a', 'b', 'c', 'd']) await start(name, tableName);
    await waitUntil(() => leaders().length === 1, 5_000, 'a leader');
    for (let round = 0; round < 3; round++) {
      // Every standby listens before the leader goes.
      await waitUntil(
        () => pool.all.every((c) => c.closed || c.service.getState().standbyMode === 'doorbell'),
        1_000,
      );
      await sleep(SLOW_POLL.renewIntervalMs * 2);
      expect((await waiters()).length).toBe(pool.all.filter((c) => !c.closed).length - 1);
      const [leader] = leaders();
      const closing = leader.close();
      const startedAt = Date.now();
      await waitUntil(() => leaders().length === 1 && leaders()[0] !== leader, 3_000, 'a new leader');
      const handoverMs = Date.now() - startedAt;
      await closing;
      expect(handoverMs).toBeLessThan(SLOW_POLL.pollIntervalMs / 5);
    }
  }, 60_000);

  it('a crashed leader (SIGKILL) is taken over right after its lease ends on the database clock, never before', async () => {
    const tableName = `lease_bell_${++table}`;
    const env = {
      MYSQL_URL: db.url,
      TABLE: tableName,
      LEASE_MS: '3000',
      RENEW_MS: '500',
      POLL_MS: '2000',
      MARGIN_MS: '500',
    };
    const children: ChildCandidate[] = [];
    try {
      children.push(await spawnChildCandidate({ ...env, CANDIDATE_ID: 'first' }));
      await waitUntil(() => children[0].leads(), 10_000, 'the first child to lead');
      children.push(await spawnChildCandidate({ ...env, CANDIDATE_ID: 'second' }));
      await sleep(1_500);
      await children[0].kill('SIGKILL');
      // Nothing renews the dead leader's lease any more: the row now holds its final expiry.
      const [before] = await db.query<{ term: number; expires_at: string }[]>(
        `SELECT term, expires_at FROM ${tableName} WHERE name = 'default'`,
      );
      await waitUntil(() => children[1].leads(), 5_000, 'the second child to take over');
      const [after] = await db.query<{ term: number; overshoot_us: number }[]>(
        `SELECT term, TIMESTAMPDIFF(MICROSECOND, ?, acquired_at) AS overshoot_us FROM ${tableName} WHERE name = 'default'`,
        [before.expires_at],
      );
      expect(Number(after.term)).toBe(Number(before.term) + 1);
      expect(Number(after.overshoot_us)).toBeGreaterThanOrEqual(0);
      expect(Number(after.overshoot_us)).toBeLessThan(500_000);
    } finally {
      await Promise.all(children.map((c) => c.kill('SIGKILL')));
    }
  }, 60_000);

  it("on SIGTERM the leader gives its lease up at the signal, before Nest runs the app's own onModuleDestroy hooks (a 3 s one does not hold the handover up)", async () => {
    const tableName = `lease_bell_${++table}`;
    const env = {
      MYSQL_URL: db.url,
      TABLE: tableName,
      LEASE_MS: String(SLOW_POLL.leaseDurationMs),
      RENEW_MS: String(SLOW_POLL.renewIntervalMs),
      POLL_MS: String(SLOW_POLL.pollIntervalMs),
      MARGIN_MS: String(SLOW_POLL.safetyMarginMs),
    };
    const children: ChildCandidate[] = [];
    try {
      children.push(await spawnChildCandidate({ ...env, CANDIDATE_ID: 'slow', SLOW_DESTROY_MS: '3000' }));
      await waitUntil(() => children[0].leads(), 10_000, 'the first child to lead');
      children.push(await spawnChildCandidate({ ...env, CANDIDATE_ID: 'next' }));
      await sleep(2 * SLOW_POLL.renewIntervalMs);
      const exited = new Promise<number>((resolve) =>
        children[0].process.once('exit', () => resolve(Date.now())),
      );
      const signalledAt = Date.now();
      children[0].process.kill('SIGTERM');
      await waitUntil(() => children[1].leads(), 5_000, 'the second child to take over');
      const electedAt = children[1].lines.find((l) => l.type === 'elected')!.receivedAt;
      expect(electedAt - signalledAt).toBeLessThan(1_000);
      // The app's own hook did run, and held the process that long.
      expect(children[0].lines.some((l) => l.type === 'app-destroy-start')).toBe(true);
      expect((await exited) - signalledAt).toBeGreaterThanOrEqual(2_900);
    } finally {
      await Promise.all(children.map((c) => c.kill('SIGKILL')));
    }
  }, 60_000);

  it("standbyMode: 'poll' uses no named lock and still hands over within P + 1 s", async () => {
    const tableName = `lease_bell_${++table}`;
    const poll = { standbyMode: 'poll' as const, pollIntervalMs: 500 };
    for (const name of ['a', 'b', 'c']) await start(name, tableName, poll);
    await waitUntil(() => leaders().length === 1, 5_000, 'a leader');
    await sleep(1_000);
    expect(await waiters()).toEqual([]);
    expect(pool.all.map((c) => c.service.getState().standbyMode)).toEqual(['poll', 'poll', 'poll']);
    const [leader] = leaders();
    await leader.close();
    await waitUntil(() => leaders().length === 1, poll.pollIntervalMs + 1_000, 'a new leader by polling');
  }, 30_000);

  it('a killed GET_LOCK wait (transient) falls back to polling for a while with one log line, then the standby waits on the doorbell again', async () => {
    const tableName = `lease_bell_${++table}`;
    const fast = { pollIntervalMs: 500 };
    const leader = await start('a', tableName, fast);
    await waitUntil(() => leader.service.isLeader(), 5_000, 'a to lead');
    const { user, url } = await db.createUser();
    const standby = await start('b', tableName, { ...fast, connection: url });
    let standbyWaits: { ID: number }[] = [];
    const deadline = Date.now() + 10_000;
    while (standbyWaits.length === 0 && Date.now() < deadline) {
      standbyWaits = (await waiters()).filter((w) => w.USER === user);
      await sleep(100);
    }
    expect(standbyWaits).toHaveLength(1);
    await db.query(`KILL QUERY ${Number(standbyWaits[0].ID)}`);
    await waitUntil(
      () => standby.service.getState().standbyMode === 'poll',
      5_000,
      'the fallback to polling',
    );
    const offLines = () =>
      standby.logger.lines.filter((l) => l.message.includes('Doorbell of "default" off'));
    expect(offLines()).toHaveLength(1);
    expect(offLines()[0].message).toMatch(/Doorbell of "default" off for now \(GET_LOCK failed/);
    // Re-armed after about P: the standby blocks on the named lock again.
    await waitUntil(
      () => standby.service.getState().standbyMode === 'doorbell',
      5 * fast.pollIntervalMs,
      'the doorbell re-armed',
    );
    const waitAgainUntil = Date.now() + 5_000;
    while ((await waiters()).filter((w) => w.USER === user).length === 0 && Date.now() < waitAgainUntil) {
      await sleep(100);
    }
    expect((await waiters()).filter((w) => w.USER === user)).toHaveLength(1);
    expect(offLines()).toHaveLength(1);
    await leader.close();
    await waitUntil(() => standby.service.isLeader(), fast.pollIntervalMs + 1_000, 'b to lead');
  }, 30_000);

  it('a standby process in 4 elections holds at most 1 + 4 connections', async () => {
    const tableName = `lease_bell_${++table}`;
    const elections = ['e1', 'e2', 'e3', 'e4'];
    const leader = await start('a', tableName, { elections });
    await waitUntil(() => elections.every((e) => leader.service.isLeader(e)), 5_000, 'a to lead all four');
    const { user, url } = await db.createUser();
    await start('b', tableName, { elections, connection: url });
    await sleep(3 * SLOW_POLL.renewIntervalMs);
    const sessions = await db.query<{ STATE: string }[]>(
      'SELECT STATE FROM information_schema.PROCESSLIST WHERE USER = ?',
      [user],
    );
    expect(sessions.filter((s) => s.STATE === 'User lock')).toHaveLength(4);
    expect(sessions.length).toBeLessThanOrEqual(1 + 4);
  }, 30_000);
});
