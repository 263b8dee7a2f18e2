import { createTestDatabase, type TestDatabase } from './support/database';
import { sleep, waitUntil } from './support/candidates';
import { spawnChildCandidate, type ChildCandidate } from './support/child-candidate';

// Expiry is judged on the database's clock only: a candidate whose wall clock is an hour off (libfaketime)
// must neither take over a healthy leader early nor keep others from taking over a dead one.
const TIMING = { LEASE_MS: '2000', RENEW_MS: '400', POLL_MS: '400', MARGIN_MS: '400' };
const LEASE_MS = 2_000;

describe('candidates whose wall clock is an hour off (faketime child processes)', () => {
  let db: TestDatabase;
  const children: ChildCandidate[] = [];
  let table = 0;

  beforeAll(async () => {
    db = await createTestDatabase('clock_skew');
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
  });
  afterAll(async () => {
    await db.drop();
  });

  const spawn = async (tableName: string, name: string, faketime?: string) => {
    const child = await spawnChildCandidate(
      { ...TIMING, MYSQL_URL: db.url, TABLE: tableName, CANDIDATE_ID: name },
      { faketime },
    );
    children.push(child);
    if (faketime) {
      // Prove the shift took: the child's wall clock is an hour away from ours.
      const ready = child.lines.find((l) => l.type === 'ready')!;
      const expected = (faketime.startsWith('-') ? -1 : 1) * 3_600_000;
      expect(Math.abs(ready.wall - ready.receivedAt - expected)).toBeLessThan(60_000);
    }
    return child;
  };
  const leaseRow = async (tableName: string) =>
    (
      await db.query<{ holder: string; term: number; expired: number }[]>(
        `SELECT holder, term, expires_at <= UTC_TIMESTAMP(6) AS expired FROM ${tableName} WHERE name = 'default'`,
      )
    )[0];

  it.each(['+1h', '-1h'])(
    'a follower whose clock is %s never takes over a healthy leader early',
    async (offset) => {
      const tableName = `lease_skew_${++table}`;
      const leader = await spawn(tableName, 'true-clock');
      await waitUntil(() => leader.leads(), 10_000, 'the true-clock candidate to lead');
      const { term } = await leaseRow(tableName);
      const skewed = await spawn(tableName, `skewed${offset}`, offset);
      await sleep(3 * LEASE_MS);
      expect(skewed.lines.filter((l) => l.type === 'elected')).toEqual([]);
      expect(leader.leads()).toBe(true);
      const row = await leaseRow(tableName);
      expect(row.holder).toBe(leader.candidateId());
      expect(Number(row.term)).toBe(Number(term));
    },
    60_000,
  );

  it.each(['+1h', '-1h'])(
    'a leader whose clock is %s does not block takeover once it dies, and is not taken over early',
    async (offset) => {
      const tableName = `lease_skew_${++table}`;
      const skewed = await spawn(tableName, `skewed${offset}`, offset);
      await waitUntil(() => skewed.leads(), 10_000, 'the skewed candidate to lead');
      const follower = await spawn(tableName, 'true-clock');
      await sleep(2 * LEASE_MS);
      expect(follower.lines.filter((l) => l.type === 'elected')).toEqual([]);
      const [{ expires_at: expiresBeforeKill }] = await db.query<{ expires_at: string }[]>(
        `SELECT expires_at FROM ${tableName} WHERE name = 'default'`,
      );
      const killedAt = Date.now();
      await skewed.kill('SIGKILL');
      await waitUntil(() => follower.leads(), LEASE_MS + 2_000, 'the true-clock follower to take over');
      const electedAt = follower.lines.find((l) => l.type === 'elected')!.receivedAt;
      // Not before the dead leader's lease could have run out (minus its margin and poll slack) ...
      expect(electedAt - killedAt).toBeGreaterThanOrEqual(LEASE_MS - 400 - 100);
      // ... and not much later than it.
      expect(electedAt - killedAt).toBeLessThanOrEqual(LEASE_MS + 1_000);
      // On the database's clock, the new term began no earlier than the dead leader's lease ended.
      const [{ early }] = await db.query<{ early: number }[]>(
        `SELECT acquired_at < ? AS early FROM ${tableName} WHERE name = 'default'`,
        [expiresBeforeKill],
      );
      expect(Number(early)).toBe(0);
    },
    60_000,
  );
});
