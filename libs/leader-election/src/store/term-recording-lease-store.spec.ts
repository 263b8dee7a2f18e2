import { RecordingLogger } from '../../testing/recording-logger';
import type { LeaseStore } from './lease-store';
import { TermRecordingLeaseStore } from './term-recording-lease-store';
import type { TermsStore } from './terms-store';

/** Lets every microtask queued so far (and those they queue) run, within this turn of the event loop. */
const microtasks = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
};

describe('TermRecordingLeaseStore', () => {
  const setup = () => {
    const order: string[] = [];
    const inner = {
      acquire: () => Promise.resolve(true),
      release: () => Promise.resolve(true),
    } as unknown as LeaseStore;
    const terms: TermsStore = {
      ensureSchema: () => Promise.resolve(),
      recordAcquired: (election, holder, term) => {
        order.push(`history: ${holder} acquired ${term}`);
        return Promise.resolve();
      },
      recordEnded: (election, holder, term) => {
        order.push(`history: ${holder} ended ${term}`);
        return Promise.resolve();
      },
      list: () => Promise.resolve([]),
      close: () => Promise.resolve(),
    };
    const store = new TermRecordingLeaseStore(inner, terms, {
      keep: 10,
      logger: new RecordingLogger(),
      createTable: true,
    });
    return { order, store };
  };

  it('hands a won acquisition to its caller, and lets its turn finish, before the history write starts', async () => {
    const { order, store } = setup();
    const won = await store.acquire('e', 'a', 0, 1_000);
    order.push('caller: won');
    await microtasks();
    order.push('caller: turn over');
    await new Promise((resolve) => setImmediate(resolve));
    await microtasks();
    expect(won).toBe(true);
    expect(order).toEqual(['caller: won', 'caller: turn over', 'history: a acquired 1']);
  });

  it('lets a release be followed by the rest of its turn (the doorbell) before the history write starts', async () => {
    const { order, store } = setup();
    await store.release('e', 'a', 1);
    order.push('caller: released');
    await microtasks();
    order.push('caller: turn over');
    await new Promise((resolve) => setImmediate(resolve));
    await microtasks();
    expect(order).toEqual(['caller: released', 'caller: turn over', 'history: a ended 1']);
  });
});
