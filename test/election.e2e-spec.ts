import { createTestDatabase, type TestDatabase } from './support/database';
import { FAST_TIMING, sleep, startCandidate, waitUntil, type Candidate } from './support/candidates';

describe('election among three Nest apps in one process (real MariaDB)', () => {
  let db: TestDatabase;
  let candidates: Candidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('election');
  });
  afterEach(async () => {
    await Promise.all(candidates.map((c) => c.close()));
    candidates = [];
  });
  afterAll(async () => {
    await db.drop();
  });

  const startThree = async (tableName: string) => {
    candidates = await Promise.all(
      [1, 2, 3].map((i) =>
        startCandidate({ options: { connection: db.url, tableName, candidateId: `app${i}`, ...FAST_TIMING } }),
      ),
    );
    return candidates;
  };
  const leaders = () => candidates.filter((c) => !c.closed && c.service.isLeader());

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
