import { LeaderElector } from '../libs/leader-election/src/elector/leader-elector';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { createLeaseTableSql } from '../libs/leader-election/src/store/lease-table';
import { sleep, waitUntil } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';
import { QUIET_LOGGER, recordedStore } from './support/recorded-store';

// A candidate's first step, on the real store: which statements it sends before it leads or waits.

const TIMING = { leaseDurationMs: 3_000, renewIntervalMs: 600, pollIntervalMs: 600, safetyMarginMs: 300 };

describe('cold start (real MariaDB)', () => {
  let db: TestDatabase;
  const electors: LeaderElector[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('cold_start');
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((elector) => elector.stop()));
  });
  afterAll(async () => {
    await db.drop();
  });

  const start = (table: string, candidateId: string) => {
    // The real MySQL store, with the name of every lease statement it was asked for, in order.
    const { store, calls } = recordedStore(
      new MysqlLeaseStore({ connection: db.url, tableName: table, operationTimeoutMs: 2_000 }),
    );
    const elector = new LeaderElector({
      store,
      elections: ['default'],
      candidateId,
      timing: TIMING,
      createTable: false,
      standbyMode: 'poll',
      logger: QUIET_LOGGER,
    });
    electors.push(elector);
    elector.start();
    return { elector, calls };
  };

  it('on a free lease the first step takes it with one statement once the row exists: no read before it', async () => {
    await db.query(createLeaseTableSql('lease_free'));
    const { elector, calls } = start('lease_free', 'a');
    await waitUntil(() => elector.election('default')?.isLeader() ?? false, 5_000, 'leader a');
    expect(calls.slice(0, 2)).toEqual(['ensureRow', 'acquireFree']);
    expect(calls.indexOf('read')).toBe(-1);
    expect(elector.election('default')?.getState().term).toBe(1);
  });

  it('on a lease held by somebody else the first step matches nothing, then reads, and the candidate waits for the expiry', async () => {
    await db.query(createLeaseTableSql('lease_held'));
    const holder = start('lease_held', 'holder');
    await waitUntil(() => holder.elector.election('default')?.isLeader() ?? false, 5_000, 'leader holder');
    const other = start('lease_held', 'other');
    await waitUntil(() => other.calls.includes('read'), 5_000, "the other's read");
    expect(other.calls.slice(0, 3)).toEqual(['ensureRow', 'acquireFree', 'read']);
    await sleep(TIMING.leaseDurationMs);
    expect(other.elector.election('default')?.isLeader()).toBe(false);
    expect(holder.elector.election('default')?.isLeader()).toBe(true);
    expect(other.elector.election('default')?.getState().leaderId).toBe('holder');
  });
});
