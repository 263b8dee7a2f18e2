import { LeaderElector } from '../libs/leader-election/src/elector/leader-elector';
import type { ElectionEvent } from '../libs/leader-election/src/elector/election-state';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { createLeaseTableSql } from '../libs/leader-election/src/store/lease-table';
import { createTestDatabase, type TestDatabase } from './support/database';
import { QUIET_LOGGER } from './support/recorded-store';

const TIMING = { leaseDurationMs: 1_500, renewIntervalMs: 300, pollIntervalMs: 300, safetyMarginMs: 300 };
const TABLE = 'lease_terms';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('terms never repeat when the lease row or table is re-created (real MariaDB)', () => {
  let db: TestDatabase;
  let electors: LeaderElector[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('terms');
  });
  afterEach(async () => {
    await Promise.all(electors.map((elector) => elector.stop()));
    electors = [];
  });
  afterAll(async () => {
    await db.drop();
  });

  it('a DELETEd row and a DROPped and re-created table under three running candidates: every elected term is above every earlier one', async () => {
    // A history: the row has reached term 5 before these candidates start.
    await db.query(createLeaseTableSql(TABLE));
    await db.query(`INSERT INTO ${TABLE} (name, holder, term) VALUES ('default', 'old', 5)`);
    const elected: { at: number; candidate: string; term: number }[] = [];
    for (const id of ['a', 'b', 'c']) {
      const elector = new LeaderElector({
        store: new MysqlLeaseStore({ connection: db.url, tableName: TABLE, operationTimeoutMs: 1_000 }),
        elections: ['default'],
        candidateId: id,
        timing: TIMING,
        createTable: false,
        standbyMode: 'poll',
        logger: QUIET_LOGGER,
      });
      elector.onEvent((event: ElectionEvent) => {
        if (event.type === 'elected') elected.push({ at: Date.now(), candidate: id, term: event.term });
      });
      electors.push(elector);
      elector.start();
    }
    const termOfRow = async () =>
      Number(
        (await db.query<{ term: string }[]>(`SELECT term FROM ${TABLE} WHERE name = 'default'`))[0]?.term,
      );

    await waitUntil(() => elected.length === 1, 5_000, 'first leader');
    expect(elected[0].term).toBe(6);
    // Every candidate has read the row before it goes: one that never saw term 6 cannot stay above it.
    await waitUntil(
      () => electors.every((elector) => elector.election('default')!.getState().term === 6),
      5_000,
      'every candidate to read term 6',
    );

    // An operator deletes the row while a leader holds it: it comes back at term 0.
    await db.query(`DELETE FROM ${TABLE} WHERE name = 'default'`);
    await waitUntil(() => elected.length >= 2, 5_000, 'a leader after the DELETE');
    await sleep(1_000);

    // The migration's down and up while the candidates run.
    await db.query(`DROP TABLE ${TABLE}`);
    await sleep(200);
    await db.query(createLeaseTableSql(TABLE));
    const before = elected.length;
    await waitUntil(() => elected.length > before, 10_000, 'a leader after the table was re-created');
    await sleep(1_000);

    // In the order they were elected: strictly increasing, so no fencing token was handed out twice.
    const terms = elected.map((e) => e.term);
    expect(terms.length).toBeGreaterThanOrEqual(3);
    expect(terms).toEqual([...new Set(terms)].sort((x, y) => x - y));
    expect(await termOfRow()).toBe(Math.max(...terms));
  }, 60_000);
});
