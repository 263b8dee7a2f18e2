import { LeaseStoreError, type LeaseDoorbell, type LeaseRow, type LeaseStore } from '../store/lease-store';
import { DEFAULT_BATCH_WINDOW_MS } from '../leader-election.constants';
import { BatchingLeaseStore } from './batching-lease-store';

// BatchingLeaseStore flushes after a short real-time window: these tests use real timers and no database.

const row = (holder: string, term: number): LeaseRow => ({
  holder,
  term,
  valid: true,
  remainingUs: 5_000_000,
});

type Call =
  | { method: 'read'; name: string }
  | { method: 'readMany'; names: string[] }
  | { method: 'renew'; name: string; holder: string; term: number; leaseMs: number }
  | { method: 'renewMany'; holder: string; leases: { name: string; term: number }[]; leaseMs: number }
  | { method: 'other'; name: string };

/** An inner store that records every call and answers from `rows` / `renewable`, or fails as told. */
class FakeInnerStore implements LeaseStore {
  readonly calls: Call[] = [];
  readonly rows = new Map<string, LeaseRow>();
  /** `name/term` pairs that a renewal renews. */
  readonly renewable = new Set<string>();
  /** How many leases renewMany reports, when set (otherwise it counts the renewable ones). */
  renewManyResult: number | undefined;
  failReadMany: Error | undefined;
  failRenewMany: Error | undefined;
  /** Names whose single renew() fails. */
  readonly failRenew = new Map<string, Error>();

  ensureSchema(): Promise<void> {
    this.calls.push({ method: 'other', name: 'ensureSchema' });
    return Promise.resolve();
  }
  ensureRow(name: string): Promise<void> {
    this.calls.push({ method: 'other', name: `ensureRow:${name}` });
    return Promise.resolve();
  }
  acquire(name: string): Promise<boolean> {
    this.calls.push({ method: 'other', name: `acquire:${name}` });
    return Promise.resolve(true);
  }
  release(name: string): Promise<boolean> {
    this.calls.push({ method: 'other', name: `release:${name}` });
    return Promise.resolve(true);
  }
  close(): Promise<void> {
    this.calls.push({ method: 'other', name: 'close' });
    return Promise.resolve();
  }
  async read(name: string): Promise<LeaseRow | undefined> {
    this.calls.push({ method: 'read', name });
    await Promise.resolve();
    return this.rows.get(name);
  }
  async readMany(names: readonly string[]): Promise<Map<string, LeaseRow>> {
    this.calls.push({ method: 'readMany', names: [...names] });
    await Promise.resolve();
    if (this.failReadMany) throw this.failReadMany;
    return new Map(names.filter((n) => this.rows.has(n)).map((n) => [n, this.rows.get(n)!]));
  }
  async renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    this.calls.push({ method: 'renew', name, holder, term, leaseMs });
    await Promise.resolve();
    const failure = this.failRenew.get(name);
    if (failure) throw failure;
    return this.renewable.has(`${name}/${term}`);
  }
  async renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number> {
    this.calls.push({
      method: 'renewMany',
      holder,
      leases: leases.map(({ name, term }) => ({ name, term })),
      leaseMs,
    });
    await Promise.resolve();
    if (this.failRenewMany) throw this.failRenewMany;
    return this.renewManyResult ?? leases.filter((l) => this.renewable.has(`${l.name}/${l.term}`)).length;
  }
  of<M extends Call['method']>(method: M): Extract<Call, { method: M }>[] {
    return this.calls.filter((call): call is Extract<Call, { method: M }> => call.method === method);
  }
}

const settle = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BatchingLeaseStore (fake inner store, real timers)', () => {
  let inner: FakeInnerStore;
  let store: BatchingLeaseStore;
  beforeEach(() => {
    inner = new FakeInnerStore();
    store = new BatchingLeaseStore(inner);
  });

  describe('reads', () => {
    it('reads issued in the same event-loop turn become one readMany, and each caller gets its own row', async () => {
      inner.rows.set('a', row('x', 1));
      inner.rows.set('b', row('y', 7));
      const results = await Promise.all([store.read('a'), store.read('b'), store.read('missing')]);

      expect(inner.of('readMany')).toEqual([{ method: 'readMany', names: ['a', 'b', 'missing'] }]);
      expect(inner.of('read')).toEqual([]);
      expect(results).toEqual([row('x', 1), row('y', 7), undefined]);
    });

    it('reads issued from separate async chains in the same turn (after awaits of their own) are batched too', async () => {
      inner.rows.set('a', row('x', 1));
      inner.rows.set('b', row('x', 2));
      const step = async (name: string, awaits: number) => {
        for (let i = 0; i < awaits; i++) await Promise.resolve();
        return store.read(name);
      };
      expect(await Promise.all([step('a', 1), step('b', 5)])).toEqual([row('x', 1), row('x', 2)]);
      expect(inner.of('readMany')).toEqual([{ method: 'readMany', names: ['a', 'b'] }]);
      expect(inner.of('read')).toEqual([]);
    });

    it('two reads of the same election in one turn send one statement and both get the row', async () => {
      inner.rows.set('a', row('x', 3));
      const results = await Promise.all([store.read('a'), store.read('a')]);
      expect(results).toEqual([row('x', 3), row('x', 3)]);
      expect(inner.calls).toEqual([{ method: 'read', name: 'a' }]);
    });

    it('a single read passes straight through as read()', async () => {
      inner.rows.set('a', row('x', 1));
      expect(await store.read('a')).toEqual(row('x', 1));
      expect(inner.calls).toEqual([{ method: 'read', name: 'a' }]);
    });

    it('reads a few milliseconds apart, within the collection window, are still one statement', async () => {
      inner.rows.set('a', row('x', 1));
      inner.rows.set('b', row('x', 2));
      const first = store.read('a');
      await new Promise((resolve) => setTimeout(resolve, DEFAULT_BATCH_WINDOW_MS / 2));
      expect(await Promise.all([first, store.read('b')])).toEqual([row('x', 1), row('x', 2)]);
      expect(inner.calls).toEqual([{ method: 'readMany', names: ['a', 'b'] }]);
    });

    it('reads in different turns are separate statements', async () => {
      inner.rows.set('a', row('x', 1));
      inner.rows.set('b', row('x', 1));
      await store.read('a');
      await nextTurn();
      await store.read('b');
      expect(inner.calls).toEqual([
        { method: 'read', name: 'a' },
        { method: 'read', name: 'b' },
      ]);
    });

    it('a failed readMany rejects every caller of that batch with its error', async () => {
      const error = new LeaseStoreError('unreachable', 'connect ECONNREFUSED');
      inner.failReadMany = error;
      const results = await Promise.all(['a', 'b', 'c'].map((name) => settle(store.read(name))));
      expect(results).toEqual([{ error }, { error }, { error }]);
      expect(inner.of('readMany')).toHaveLength(1);
      // The next batch is unaffected.
      inner.failReadMany = undefined;
      inner.rows.set('a', row('x', 1));
      expect(await Promise.all([store.read('a'), store.read('b')])).toEqual([row('x', 1), undefined]);
    });
  });

  describe('renewals', () => {
    it("renewals issued in the same turn become one renewMany of the holder's leases, each caller resolving true", async () => {
      ['a/1', 'b/4', 'c/9'].forEach((lease) => inner.renewable.add(lease));
      const results = await Promise.all([
        store.renew('a', 'x', 1, 10_000),
        store.renew('b', 'x', 4, 10_000),
        store.renew('c', 'x', 9, 10_000),
      ]);

      expect(results).toEqual([true, true, true]);
      expect(inner.of('renewMany')).toEqual([
        {
          method: 'renewMany',
          holder: 'x',
          leases: [
            { name: 'a', term: 1 },
            { name: 'b', term: 4 },
            { name: 'c', term: 9 },
          ],
          leaseMs: 10_000,
        },
      ]);
      expect(inner.of('renew')).toEqual([]);
    });

    it('a partial renewMany (fewer rows than asked) falls back to one renew per election and resolves each with its own outcome', async () => {
      inner.renewable.add('a/1');
      inner.renewable.add('c/9'); // b's lease (term 4) was taken over
      const results = await Promise.all([
        store.renew('a', 'x', 1, 10_000),
        store.renew('b', 'x', 4, 10_000),
        store.renew('c', 'x', 9, 10_000),
      ]);

      expect(results).toEqual([true, false, true]);
      expect(inner.of('renewMany')).toHaveLength(1);
      expect(
        inner.of('renew').map(({ name, holder, term, leaseMs }) => [name, holder, term, leaseMs]),
      ).toEqual([
        ['a', 'x', 1, 10_000],
        ['b', 'x', 4, 10_000],
        ['c', 'x', 9, 10_000],
      ]);
    });

    it('in the fallback, a renew that fails rejects only its own caller; the others get their own outcome', async () => {
      inner.renewable.add('a/1');
      inner.renewable.add('c/9');
      const error = new LeaseStoreError('outcome-unknown', 'Connection lost');
      inner.failRenew.set('b', error);
      inner.renewManyResult = 1;
      const results = await Promise.all([
        settle(store.renew('a', 'x', 1, 10_000)),
        settle(store.renew('b', 'x', 4, 10_000)),
        settle(store.renew('c', 'x', 9, 10_000)),
      ]);
      expect(results).toEqual([{ value: true }, { error }, { value: true }]);
      expect(inner.of('renew').map((call) => call.name)).toEqual(['a', 'b', 'c']);
    });

    it('a failed renewMany rejects every caller of that batch with its error, and sends nothing else', async () => {
      const error = new LeaseStoreError('outcome-unknown', 'PROTOCOL_SEQUENCE_TIMEOUT');
      inner.failRenewMany = error;
      const results = await Promise.all([
        settle(store.renew('a', 'x', 1, 10_000)),
        settle(store.renew('b', 'x', 4, 10_000)),
      ]);
      expect(results).toEqual([{ error }, { error }]);
      expect(inner.of('renew')).toEqual([]);
    });

    it('a single renewal passes straight through as renew()', async () => {
      inner.renewable.add('a/1');
      expect(await store.renew('a', 'x', 1, 10_000)).toBe(true);
      expect(await store.renew('a', 'x', 2, 10_000)).toBe(false);
      expect(inner.calls).toEqual([
        { method: 'renew', name: 'a', holder: 'x', term: 1, leaseMs: 10_000 },
        { method: 'renew', name: 'a', holder: 'x', term: 2, leaseMs: 10_000 },
      ]);
    });

    it('renewals of different holders or lease durations in one turn are separate statements', async () => {
      ['a/1', 'b/1', 'c/1', 'd/1'].forEach((lease) => inner.renewable.add(lease));
      const results = await Promise.all([
        store.renew('a', 'x', 1, 10_000),
        store.renew('b', 'x', 1, 10_000),
        store.renew('c', 'y', 1, 10_000),
        store.renew('d', 'x', 1, 20_000),
      ]);
      expect(results).toEqual([true, true, true, true]);
      expect(inner.of('renewMany').map((call) => [call.holder, call.leaseMs, call.leases.length])).toEqual([
        ['x', 10_000, 2],
      ]);
      expect(inner.of('renew').map((call) => [call.name, call.holder, call.leaseMs])).toEqual([
        ['c', 'y', 10_000],
        ['d', 'x', 20_000],
      ]);
    });

    it('reads and renewals of the same turn are batched separately, one statement each', async () => {
      inner.rows.set('a', row('x', 1));
      inner.rows.set('b', row('x', 1));
      ['c/1', 'd/1'].forEach((lease) => inner.renewable.add(lease));
      const [rows, renewed] = await Promise.all([
        Promise.all([store.read('a'), store.read('b')]),
        Promise.all([store.renew('c', 'x', 1, 10_000), store.renew('d', 'x', 1, 10_000)]),
      ]);
      expect(rows).toEqual([row('x', 1), row('x', 1)]);
      expect(renewed).toEqual([true, true]);
      expect(inner.calls.map((call) => call.method)).toEqual(['readMany', 'renewMany']);
    });
  });

  describe('everything else passes straight through', () => {
    it('ensureSchema, ensureRow, acquire, release and close reach the inner store unbatched, at once', async () => {
      await Promise.all([
        store.ensureSchema(),
        store.ensureRow('a'),
        store.acquire('a', 'x', 0, 10_000),
        store.acquire('b', 'x', 0, 10_000),
        store.release('a', 'x', 1),
      ]);
      await store.close();
      expect(inner.calls.map((call) => (call.method === 'other' ? call.name : call.method))).toEqual([
        'ensureSchema',
        'ensureRow:a',
        'acquire:a',
        'acquire:b',
        'release:a',
        'close',
      ]);
    });

    it("exposes the inner store's doorbells and its answer about named locks, or none", async () => {
      expect(store.openDoorbell).toBeUndefined();
      expect(await store.doorbellUnsupportedReason()).toBeUndefined();

      const bell = { held: false } as LeaseDoorbell;
      const withBells = Object.assign(new FakeInnerStore(), {
        openDoorbell: () => bell,
        doorbellUnsupportedReason: () => Promise.resolve('Galera'),
      });
      const batching = new BatchingLeaseStore(withBells);
      expect(batching.openDoorbell?.('a')).toBe(bell);
      expect(await batching.doorbellUnsupportedReason()).toBe('Galera');
    });

    it('supports() only stores that have both readMany and renewMany', () => {
      const base = new FakeInnerStore();
      const without = (method: 'readMany' | 'renewMany'): LeaseStore =>
        Object.assign(Object.create(base) as LeaseStore, { [method]: undefined });
      expect(BatchingLeaseStore.supports(base)).toBe(true);
      expect(BatchingLeaseStore.supports(without('readMany'))).toBe(false);
      expect(BatchingLeaseStore.supports(without('renewMany'))).toBe(false);
    });
  });
});
