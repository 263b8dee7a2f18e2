import { createTermsTableSql, type LeadershipTerm } from 'nestjs-leader-election';
import { MysqlTermsStore } from '../libs/leader-election/src/store/mysql-terms-store';
import { compilerOnly } from '../libs/leader-election/src/store/mysql-compiler';
import { LeaseAdmin } from '../libs/leader-election/src/store/lease-admin';
import {
  FAST_TIMING,
  RecordingLogger,
  sleep,
  startCandidate,
  waitFor,
  waitUntil,
  type Candidate,
} from './support/candidates';
import { spawnChildCandidate, type ChildCandidate } from './support/child-candidate';
import { createTestDatabase, type TestDatabase } from './support/database';

// The leadership history (terms table) on the real server: one row per term, closed with the reason it
// ended, written at acquisition and release only.

describe('leadership history', () => {
  let db: TestDatabase;
  const candidates: Candidate[] = [];
  const children: ChildCandidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('history');
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(children.splice(0).map((child) => child.kill()));
    await Promise.all(candidates.splice(0).map((candidate) => candidate.close()));
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function candidate(election: string, extra: object = {}): Promise<Candidate> {
    const started = await startCandidate({
      options: { connection: db.url, elections: [election], ...FAST_TIMING, ...extra },
    });
    candidates.push(started);
    return started;
  }

  const brief = (terms: readonly LeadershipTerm[]) =>
    terms.map(({ term, candidateId, endReason }) => ({ term, candidateId, endReason }));

  it('records each acquisition and a graceful release, newest first, with acquired and ended times', async () => {
    const a = await candidate('h-release');
    await a.service.waitForLeadership('h-release');
    const b = await candidate('h-release');
    const termA = a.service.leadershipOf('h-release')!.term;

    const open = await a.service.getHistory('h-release');
    expect(brief(open)).toEqual([{ term: termA, candidateId: a.service.candidateId, endReason: null }]);
    expect(open[0].endedAt).toBeNull();

    await a.close(); // releases the lease: b takes over at once (doorbell)
    await b.service.waitForLeadership('h-release');
    const termB = b.service.leadershipOf('h-release')!.term;

    const history = await waitFor(
      async () => {
        const terms = await b.service.getHistory('h-release');
        return terms.length === 2 && terms[1].endReason !== null ? terms : undefined;
      },
      5_000,
      'two terms in the history',
    );
    expect(brief(history)).toEqual([
      { term: termB, candidateId: b.service.candidateId, endReason: null },
      { term: termA, candidateId: a.service.candidateId, endReason: 'released' },
    ]);
    const [current, previous] = history;
    expect(previous.endedAt!.getTime()).toBeGreaterThanOrEqual(previous.acquiredAt.getTime());
    expect(current.acquiredAt.getTime()).toBeGreaterThanOrEqual(previous.endedAt!.getTime());
    expect(await b.service.getHistory('h-release', { limit: 1 })).toHaveLength(1);
    expect(await b.service.getHistory()).toHaveLength(2); // the first configured election
    await expect(b.service.getHistory('h-release', { limit: 0 })).rejects.toThrow(
      /"limit" must be a whole number/,
    );
    await expect(b.service.getHistory('nope')).rejects.toThrow(/nope/);
  });

  it("records resign() as 'resigned', and an operator's resign (LeaseAdmin, as the CLI) as 'resigned'", async () => {
    const a = await candidate('h-resign');
    const b = await candidate('h-resign');
    const leader = await waitFor(
      async () => [a, b].find((c) => c.service.isLeader('h-resign')),
      5_000,
      'a leader',
    );
    const firstTerm = leader.service.leadershipOf('h-resign')!.term;
    expect(await leader.service.resign('h-resign')).toBe(true);

    const other = leader === a ? b : a;
    await other.service.waitForLeadership('h-resign');
    const secondTerm = other.service.leadershipOf('h-resign')!.term;

    const admin = new LeaseAdmin(db.url, 'leader_election_lease');
    try {
      await waitFor(
        async () =>
          (await other.service.getHistory('h-resign')).some((t) => t.term === secondTerm) || undefined,
        5_000,
        'the second term in the history',
      );
      expect(await admin.resign('h-resign')).toMatchObject({ outcome: 'resigned', term: secondTerm });
    } finally {
      await admin.close();
    }
    const history = await waitFor(
      async () => {
        const terms = await a.service.getHistory('h-resign');
        return terms.length >= 3 ? terms : undefined;
      },
      10_000,
      'a third term after the operator resign',
    );
    expect(brief(history.slice(1))).toEqual([
      { term: secondTerm, candidateId: other.service.candidateId, endReason: 'resigned' },
      { term: firstTerm, candidateId: leader.service.candidateId, endReason: 'resigned' },
    ]);
  });

  it("records a crashed leader's term as 'expired' once another candidate took over", async () => {
    const child = await spawnChildCandidate({
      MYSQL_URL: db.url,
      TABLE: 'leader_election_lease',
      ELECTION: 'default',
      LEASE_MS: '1500',
      RENEW_MS: '300',
      POLL_MS: '300',
      MARGIN_MS: '300',
    });
    children.push(child);
    await waitUntil(() => child.leads(), 10_000, 'the child to lead');
    const childTerm = child.lines.find((line) => line.type === 'elected')!.term!;
    await waitFor(
      async () => {
        const rows = await db.query<{ n: number }[]>(
          'SELECT COUNT(*) AS n FROM leader_election_terms WHERE election = ? AND term = ?',
          ['default', childTerm],
        );
        return Number(rows[0].n) === 1 || undefined;
      },
      5_000,
      "the child's term in the table",
    );
    const survivor = await candidate('default');
    await child.kill('SIGKILL');
    await survivor.service.waitForLeadership('default');

    const history = await waitFor(
      async () => {
        const terms = await survivor.service.getHistory('default');
        return terms.length >= 2 ? terms : undefined;
      },
      5_000,
      'two terms',
    );
    expect(brief(history)).toEqual([
      {
        term: survivor.service.leadershipOf('default')!.term,
        candidateId: survivor.service.candidateId,
        endReason: null,
      },
      { term: childTerm, candidateId: child.candidateId(), endReason: 'expired' },
    ]);
  });

  it('renewals and follower reads send no statement to the terms table', async () => {
    const sent: string[] = [];
    const execute = (MysqlTermsStore.prototype as unknown as { execute: (s: unknown) => Promise<unknown> })
      .execute;
    jest
      .spyOn(MysqlTermsStore.prototype as unknown as { execute: (s: unknown) => Promise<unknown> }, 'execute')
      .mockImplementation(function (this: unknown, statement: unknown) {
        sent.push((statement as { compile: (c: unknown) => { sql: string } }).compile(compilerOnly).sql);
        return execute.call(this, statement);
      });
    const a = await candidate('h-quiet', { standbyMode: 'poll' });
    await a.service.waitForLeadership('h-quiet');
    const b = await candidate('h-quiet', { standbyMode: 'poll' });
    await a.service.getHistory('h-quiet'); // the acquisition's writes have landed
    // Only the leader sent anything: its schema check before its first write, and the acquisition's writes.
    expect(sent.filter((text) => text.startsWith('SELECT 1 FROM'))).toHaveLength(1);
    expect(sent.some((text) => text.trim().startsWith('INSERT INTO'))).toBe(true);
    const before = sent.length;
    const renewedBefore = await db.query<{ renewed_at: string }[]>(
      "SELECT renewed_at FROM leader_election_lease WHERE name = 'h-quiet'",
    );

    await sleep(10 * FAST_TIMING.renewIntervalMs); // ~10 renewals by a, ~10 reads by b

    const renewedAfter = await db.query<{ renewed_at: string }[]>(
      "SELECT renewed_at FROM leader_election_lease WHERE name = 'h-quiet'",
    );
    expect(renewedAfter[0].renewed_at).not.toBe(renewedBefore[0].renewed_at);
    expect(b.service.isLeader('h-quiet')).toBe(false);
    expect(sent.slice(before)).toEqual([]);
  });

  it("the history store's connection closes about 10 s after its last statement", async () => {
    const { user, url } = await db.createUser();
    const sessions = async () =>
      (
        await db.query<{ n: number }[]>(
          'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
          [user],
        )
      )[0].n;
    const store = new MysqlTermsStore({
      connection: url,
      termsTableName: 'leader_election_terms',
      operationTimeoutMs: 2_000,
    });
    try {
      expect(Number(await sessions())).toBe(0); // nothing opened before the first statement
      await store.ensureSchema();
      await store.list('h-idle', 1);
      expect(Number(await sessions())).toBe(1);
      await sleep(12_500);
      expect(Number(await sessions())).toBe(0);
    } finally {
      await store.close();
    }
  }, 30_000);

  it("a release whose history write lands after the takeover's still records 'released', with the earlier end", async () => {
    const store = new MysqlTermsStore({
      connection: db.url,
      termsTableName: 'leader_election_terms',
      operationTimeoutMs: 2_000,
    });
    try {
      await store.ensureSchema();
      await store.recordAcquired('h-race', 'a:1', 5, 'expired', 100);
      await sleep(20);
      // The doorbell woke b, whose acquisition's writes ran before a's release write.
      await store.recordAcquired('h-race', 'b:1', 6, 'expired', 100);
      const [, takenOver] = await store.list('h-race', 2);
      expect(takenOver).toMatchObject({ term: 5, endReason: 'expired' });
      await sleep(50);
      await store.recordEnded('h-race', 'a:1', 5, 'released');
      const [, released] = await store.list('h-race', 2);
      expect(released).toMatchObject({ term: 5, holder: 'a:1', endReason: 'released' });
      expect(released.endedAt).toBe(takenOver.endedAt); // the takeover's time, not the late write's
      // A resign by an operator does not override a release already recorded.
      await store.recordEnded('h-race', 'a:1', 5, 'resigned');
      expect((await store.list('h-race', 2))[1].endReason).toBe('released');
    } finally {
      await store.close();
    }
  });

  it('keeps historyLimit terms per election, deleting older ones at acquisition', async () => {
    const a = await candidate('h-prune', { historyLimit: 2 });
    for (let i = 0; i < 3; i++) {
      await a.service.waitForLeadership('h-prune');
      await a.service.resign('h-prune');
      // resign() keeps a out for one lease; a second candidate takes the next term meanwhile
      const b = await candidate('h-prune', { historyLimit: 2 });
      await b.service.waitForLeadership('h-prune');
      await b.close();
      candidates.splice(candidates.indexOf(b), 1);
    }
    await a.service.waitForLeadership('h-prune');
    await a.service.getHistory('h-prune'); // this process's history writes have landed
    const rows = await db.query<{ term: number }[]>(
      "SELECT term FROM leader_election_terms WHERE election = 'h-prune' ORDER BY term",
    );
    const latest = a.service.leadershipOf('h-prune')!.term;
    expect(rows.map((row) => Number(row.term))).toEqual([latest - 1, latest]);
  });

  it('without the terms table (createTable: false) the election runs and one warning names the fix', async () => {
    const logger = new RecordingLogger();
    await db.query('DROP TABLE IF EXISTS leader_election_terms');
    const a = await candidate('h-missing', { createTable: false, logger });
    await a.service.waitForLeadership('h-missing');
    await expect(a.service.getHistory('h-missing')).rejects.toThrow(/createTermsTableSql/);
    expect(logger.including('leadership history')).toHaveLength(1);
    expect(createTermsTableSql()).toContain('leader_election_terms');
  });
});
