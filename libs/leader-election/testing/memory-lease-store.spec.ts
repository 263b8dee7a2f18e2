import { describeLeaseStoreContract } from '../../../test/support/lease-store-contract';
import { FakeClock } from './fake-clock';
import { MemoryLeaseStore } from './memory-lease-store';

// The in-memory store the elector's unit tests run on must behave as the MySQL store does: the same
// contract, on a fake clock (the database's clock offset from the candidates' on purpose).
describeLeaseStoreContract('MemoryLeaseStore on a fake clock', { batched: false }, async () => {
  const clock = new FakeClock();
  return { store: new MemoryLeaseStore(clock), elapse: (ms) => clock.advance(ms), slackUs: 0 };
});
