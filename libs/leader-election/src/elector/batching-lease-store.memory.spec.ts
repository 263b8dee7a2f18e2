import { FakeClock } from '../../testing/fake-clock';
import { MemoryLeaseStore } from '../../testing/memory-lease-store';
import { BATCH_WINDOW_MS, BatchingLeaseStore } from './batching-lease-store';

// BatchingLeaseStore on the in-memory store and a fake clock: time moves only when the test says so.

const L = 10_000;

function setup() {
  const clock = new FakeClock();
  const memory = new MemoryLeaseStore(clock, { batching: true });
  if (!BatchingLeaseStore.supports(memory)) throw new Error('the memory store should batch');
  const store = new BatchingLeaseStore(memory, { clock });
  return { clock, memory, store };
}

describe('BatchingLeaseStore (fake clock, in-memory lease store)', () => {
  it('collects statements for its window on the injected clock, not on the process timers', async () => {
    const { clock, memory, store } = setup();
    for (const name of ['a', 'b']) {
      await memory.ensureRow(name);
      memory.seed(name, { holder: 'x', term: 1, expiresInMs: L });
    }
    const renewed = Promise.all([store.renew('a', 'x', 1, L), store.renew('b', 'x', 1, L)]);
    await clock.advance(BATCH_WINDOW_MS - 1);
    expect(memory.find({ kind: ['renew', 'renewMany'] })).toEqual([]);
    await clock.advance(1);
    expect(memory.find({ kind: ['renew', 'renewMany'] }).map((s) => [s.kind, s.names, s.sentAt])).toEqual([
      ['renewMany', ['a', 'b'], BATCH_WINDOW_MS],
    ]);
    expect(await renewed).toEqual([true, true]);
  });
});
