import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { sleep } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';
import { describeLeaseStoreContract } from './support/lease-store-contract';

// The LeaseStore contract against the real server, a fresh table per test in this file's own database.
// MySQL-only behaviours (schema, deadlines, dying connections, credentials) are in
// libs/leader-election/src/store/mysql-lease-store.spec.ts.
let db: TestDatabase;
let tables = 0;

beforeAll(async () => {
  db = await createTestDatabase('lease_contract');
});
afterAll(async () => {
  await db.drop();
});

describeLeaseStoreContract('MysqlLeaseStore on a real MariaDB', { batched: true }, async () => ({
  store: new MysqlLeaseStore({
    connection: db.url,
    tableName: `lease_contract_${++tables}`,
    operationTimeoutMs: 3_000,
  }),
  // Real time on the server: waiting at least `ms` here lets at least `ms` pass on its UTC_TIMESTAMP(6).
  elapse: (ms) => sleep(ms),
  // A statement and the read after it, on a machine shared with other test runs.
  slackUs: 1_500_000,
}));
