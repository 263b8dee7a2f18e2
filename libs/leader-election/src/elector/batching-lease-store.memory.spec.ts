import { FakeClock } from '../../testing/fake-clock';
import { MemoryLeaseStore } from '../../testing/memory-lease-store';
import { DEFAULT_BATCH_WINDOW_MS } from '../leader-election.constants';
import { BatchingLeaseStore } from './batching-lease-store';

// BatchingLeaseStore on the in-memory store and a fake clock: time moves only when the test says so.

const L = 10_000;
/** Round trip of every statement, in fake ms. */
const LATENCY = 100;

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
    await clock.advance(DEFAULT_BATCH_WINDOW_MS - 1);
    expect(memory.find({ kind: ['renew', 'renewMany'] })).toEqual([]);
    await clock.advance(1);
    expect(memory.find({ kind: ['renew', 'renewMany'] }).map((s) => [s.kind, s.names, s.sentAt])).toEqual([
      ['renewMany', ['a', 'b'], DEFAULT_BATCH_WINDOW_MS],
    ]);
    expect(await renewed).toEqual([true, true]);
  });

  it('after a partial renewMany (one of 3 leases lost), the three single renewals are sent together and none waits for another', async () => {
    const { clock, memory, store } = setup();
    for (const name of ['a', 'b', 'c']) {
      await memory.ensureRow(name);
      memory.seed(name, { holder: 'x', term: 1, expiresInMs: L });
    }
    memory.seed('b', { holder: 'y', term: 2, expiresInMs: L }); // b's lease was taken over
    memory.latency = LATENCY;

    const results = Promise.all(['a', 'b', 'c'].map((name) => store.renew(name, 'x', 1, L)));
    await clock.advance(DEFAULT_BATCH_WINDOW_MS + 5 * LATENCY);
    const [batch] = memory.find({ kind: 'renewMany' });
    expect(batch).toMatchObject({ names: ['a', 'b', 'c'], result: 2, status: 'ok' });
    const singles = memory.find({ kind: 'renew' });
    expect(singles.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    // All sent as soon as the batch answered, before any of them answered.
    const firstAnswer = Math.min(...singles.map((s) => s.settledAt!));
    for (const single of singles) {
      expect(single.sentAt).toBe(batch.settledAt);
      expect(single.sentAt).toBeLessThan(firstAnswer);
      // One round trip each: nobody waited behind another election's renewal.
      expect(single.settledAt! - batch.settledAt!).toBe(LATENCY);
    }
    expect(await results).toEqual([true, false, true]);
  });
});
