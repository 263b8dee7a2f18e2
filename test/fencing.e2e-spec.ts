import { Kysely, MysqlDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import { performance } from 'node:perf_hooks';
import {
  LeaderElectionConfigError,
  NotLeaderError,
  type ElectionEvent,
  type LeaderElectionModuleOptions,
} from 'nestjs-leader-election';
import { createTestDatabase, type TestDatabase } from './support/database';
import { sleep, startCandidate, waitUntil, type Candidate } from './support/candidates';

interface Ledger {
  ledger: { id?: number; term: number; instance: string };
}

// L = 3 s, R = 500 ms, P = 500 ms, M = 500 ms: a leader believes in its lease for 2.5 s after a renewal
// was sent, and MariaDB ends a fenced transaction idle for longer than 3 s.
const TIMING = { leaseDurationMs: 3_000, renewIntervalMs: 500, pollIntervalMs: 500, safetyMarginMs: 500 };

describe('fenced writes (runFenced / assertLeader) on real MariaDB', () => {
  let db: TestDatabase;
  let kysely: Kysely<Ledger>;
  let candidates: Candidate[] = [];
  let table = 0;

  beforeAll(async () => {
    db = await createTestDatabase('fencing');
    await db.query(
      'CREATE TABLE ledger (id INT AUTO_INCREMENT PRIMARY KEY, term BIGINT UNSIGNED NOT NULL, instance VARCHAR(191) NOT NULL)',
    );
    kysely = new Kysely<Ledger>({
      dialect: new MysqlDialect({ pool: createPool({ uri: db.url, connectionLimit: 5 }) }),
    });
  });
  afterEach(async () => {
    await Promise.all(candidates.map((c) => c.close()));
    candidates = [];
    await db.query('DELETE FROM ledger');
  });
  afterAll(async () => {
    await kysely.destroy();
    await db.drop();
  });

  const start = async (name: string, tableName: string, extra: Partial<LeaderElectionModuleOptions> = {}) => {
    const candidate = await startCandidate({
      options: { connection: db.url, tableName, candidateId: name, ...TIMING, ...extra },
    });
    candidates.push(candidate);
    return candidate;
  };
  const events = (candidate: Candidate) => {
    const seen: (ElectionEvent & { at: number })[] = [];
    candidate.service.changes$.subscribe((event) => seen.push({ ...event, at: performance.now() }));
    return seen;
  };
  const ledger = () => kysely.selectFrom('ledger').select(['term', 'instance']).orderBy('id').execute();
  const write = (candidate: Candidate) =>
    candidate.service.runFenced(kysely, async (trx, { term }) => {
      await trx.insertInto('ledger').values({ term, instance: candidate.service.candidateId }).execute();
      return term;
    });

  it('commits on the leader under its term, and refuses (rolled back) on a follower', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const b = await start('b', tableName);
    await waitUntil(() => b.service.getState().leaderId !== null, 5_000, 'b to see a');

    const term = await write(a);
    expect(term).toBe(a.service.getState().term);
    await expect(write(b)).rejects.toBeInstanceOf(NotLeaderError);
    expect(await ledger()).toEqual([{ term, instance: a.service.candidateId }]);
  }, 30_000);

  it("assertLeader inside the caller's own transaction throws NotLeaderError once the lease was taken, and nothing commits", async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const attempt = kysely.transaction().execute(async (trx) => {
      await trx.insertInto('ledger').values({ term: 0, instance: 'before-check' }).execute();
      // The lease moves on behind this instance's back (as after a pause): the database says no.
      await db.query(`UPDATE ${tableName} SET holder = 'intruder', term = term + 1`);
      await a.service.assertLeader(trx);
    });
    await expect(attempt).rejects.toThrow(/no longer holds term \d+ of election "default"/);
    expect(await ledger()).toEqual([]);
  }, 30_000);

  it('a leader paused inside a fenced transaction: the takeover waits for it, and terms stay in order', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const b = await start('b', tableName);
    const aEvents = events(a);
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    const held = a.service.runFenced(kysely, async (trx, { term }) => {
      await trx.insertInto('ledger').values({ term, instance: 'a' }).execute();
      await gate; // paused here, holding the shared lock on the lease row
      return term;
    });
    // a cannot renew while its own transaction holds the lock: it steps down at its local deadline...
    await waitUntil(() => aEvents.some((e) => e.type === 'revoked'), 5_000, 'a to step down');
    expect(a.service.isLeader()).toBe(false);
    // ... and nobody can take over while the transaction is open.
    await sleep(500);
    expect(b.service.isLeader()).toBe(false);
    resume();
    const aTerm = await held;
    await waitUntil(() => a.service.isLeader() || b.service.isLeader(), 5_000, 'a new leader');
    const next = [a, b].find((c) => c.service.isLeader())!;
    const nextTerm = await write(next);
    expect(nextTerm).toBeGreaterThan(aTerm);
    expect(await ledger()).toEqual([
      { term: aTerm, instance: 'a' },
      { term: nextTerm, instance: next.service.candidateId },
    ]);
  }, 30_000);

  it('a leader paused inside a fenced transaction for longer than the lease: MariaDB ends it, the write never commits', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const b = await start('b', tableName);
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    const pausedTerm = a.service.getState().term;
    const held = a.service.runFenced(kysely, async (trx, { term }) => {
      await trx.insertInto('ledger').values({ term, instance: 'a-paused' }).execute();
      await gate;
      await trx.insertInto('ledger').values({ term, instance: 'a-after-pause' }).execute();
    });
    const outcome = held.then(
      () => 'committed',
      (error: unknown) => error,
    );
    // The server closes the idle transaction after ~L (3 s); then a new term begins (b, or a again).
    const newLeader = () =>
      [a, b].find((c) => c.service.isLeader() && c.service.getState().term > pausedTerm);
    await waitUntil(() => newLeader() !== undefined, 10_000, 'a new term to begin');
    resume();
    expect(await outcome).not.toBe('committed');
    const next = newLeader()!;
    const nextTerm = await write(next);
    const rows = await ledger();
    expect(rows.filter((r) => r.instance.startsWith('a-'))).toEqual([]);
    expect(rows).toEqual([{ term: nextTerm, instance: next.service.candidateId }]);
  }, 30_000);

  it('a fenced transaction held open for 3 x R does not starve renewals: the leader keeps leading (renewal waits, then succeeds)', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const aEvents = events(a);
    const term = a.service.getState().term;
    // 3 x R = 1.5 s < L - M = 2.5 s: the blocked renewals (1 s lock waits) are retried and one succeeds
    // right after the commit, before the local deadline.
    await a.service.runFenced(kysely, async (trx, leadership) => {
      await trx.insertInto('ledger').values({ term: leadership.term, instance: 'a' }).execute();
      await sleep(3 * TIMING.renewIntervalMs);
    });
    await sleep(2 * TIMING.renewIntervalMs);
    expect(aEvents.filter((e) => e.type === 'revoked')).toEqual([]);
    expect(a.service.isLeader()).toBe(true);
    expect(a.service.getState().term).toBe(term);
  }, 30_000);

  it('a Kysely that cannot see the lease table gets a LeaderElectionConfigError naming the table', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const other = await createTestDatabase('fencing_other');
    const elsewhere = new Kysely<Ledger>({
      dialect: new MysqlDialect({ pool: createPool({ uri: other.url }) }),
    });
    try {
      const attempt = a.service.runFenced(elsewhere, async () => 'never');
      await expect(attempt).rejects.toBeInstanceOf(LeaderElectionConfigError);
      await expect(a.service.runFenced(elsewhere, async () => 'never')).rejects.toThrow(
        new RegExp(`lease table "${tableName}" is not usable on the connection of the Kysely you passed`),
      );
    } finally {
      await elsewhere.destroy();
      await other.drop();
    }
  }, 30_000);

  it('assertLeader refuses a plain Kysely (not a transaction) with a LeaderElectionConfigError saying to use a transaction', async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    const attempt = a.service.assertLeader(kysely);
    await expect(attempt).rejects.toBeInstanceOf(LeaderElectionConfigError);
    await expect(a.service.assertLeader(kysely)).rejects.toThrow(
      /assertLeader\(\) needs a kysely Transaction, not a Kysely instance.*runFenced/,
    );
  }, 30_000);

  it("runFenced restores the session's previous wait_timeout and idle_transaction_timeout, not the server defaults", async () => {
    const tableName = `lease_fence_${++table}`;
    const a = await start('a', tableName);
    await waitUntil(() => a.service.isLeader(), 5_000, 'a to lead');
    // One connection, so that the session runFenced uses is the one whose values were set before.
    const single = new Kysely<Ledger>({
      dialect: new MysqlDialect({ pool: createPool({ uri: db.url, connectionLimit: 1 }) }),
    });
    try {
      await sql`SET SESSION wait_timeout = 4321, idle_transaction_timeout = 1234`.execute(single);
      const inside = await a.service.runFenced(single, async (trx) => {
        const { rows } = await sql<{ wait: number; idle: number }>`
          SELECT @@SESSION.wait_timeout AS wait, @@SESSION.idle_transaction_timeout AS idle`.execute(trx);
        return rows[0];
      });
      // Bounded by the lease (whole seconds) while the fenced transaction runs...
      const leaseSeconds = Math.ceil(TIMING.leaseDurationMs / 1000);
      expect({ wait: Number(inside.wait), idle: Number(inside.idle) }).toEqual({
        wait: leaseSeconds,
        idle: leaseSeconds,
      });
      // ...and the caller's own values afterwards.
      const { rows } = await sql<{ wait: number; idle: number }>`
        SELECT @@SESSION.wait_timeout AS wait, @@SESSION.idle_transaction_timeout AS idle`.execute(single);
      expect({ wait: Number(rows[0].wait), idle: Number(rows[0].idle) }).toEqual({ wait: 4321, idle: 1234 });
    } finally {
      await single.destroy();
    }
  }, 30_000);
});
