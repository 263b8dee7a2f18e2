import type { LeaseStore } from '../../libs/leader-election/src/store/lease-store';

// One contract for every LeaseStore, as kysely runs one suite per dialect: the behaviours the elector
// relies on (docs/design.md, "Statements"), the same words for the in-memory store and the MySQL one. What only
// one store can show (column types, deadlines, dying connections) stays in that store's own spec.

/** A store under test, on a fresh table, and how to let time pass on its clock. */
export interface LeaseStoreUnderTest {
  readonly store: LeaseStore;
  /** Lets at least `ms` pass on the store's clock: a fake clock advances, a real server is waited for. */
  elapse(ms: number): Promise<void>;
  /**
   * How far `remainingUs` may fall short of the expected value between a statement and the read that
   * follows it (round trips on a loaded machine): 0 on a fake clock.
   */
  readonly slackUs: number;
  /** Frees what the factory opened (the store itself is closed by the suite). */
  dispose?(): Promise<void>;
}

/** Makes a store on a fresh, empty lease table (its schema not yet ensured). */
export type LeaseStoreFactory = () => Promise<LeaseStoreUnderTest>;

/** What the implementation offers beyond the required methods. */
export interface LeaseStoreFeatures {
  /** Whether it batches (`readMany` / `renewMany`); checked, so that the batch cases cannot vanish. */
  readonly batched: boolean;
}

/** A lease that does not run out during one test, even on a slow machine. */
const LONG_MS = 10_000;
/** A lease that a test lets run out. */
const SHORT_MS = 300;
/** A lease that must stay valid for a few statements on a loaded machine, and that a test may let run out. */
const MEDIUM_MS = 1_500;

/**
 * Every acquisition of the suite goes through here, so that a change of `acquire`'s signature is a
 * one-line edit.
 */
function acquire(
  store: LeaseStore,
  name: string,
  holder: string,
  observedTerm: number,
  leaseMs: number,
): Promise<boolean> {
  return store.acquire(name, holder, observedTerm, leaseMs);
}

/**
 * Registers the `LeaseStore` contract for one implementation.
 *
 * @example
 * describeLeaseStoreContract('MemoryLeaseStore', { batched: false }, async () => {
 *   const clock = new FakeClock();
 *   return { store: new MemoryLeaseStore(clock), elapse: (ms) => clock.advance(ms), slackUs: 0 };
 * });
 */
export function describeLeaseStoreContract(
  name: string,
  features: LeaseStoreFeatures,
  factory: LeaseStoreFactory,
): void {
  describe(`LeaseStore contract: ${name}`, () => {
    let subject: LeaseStoreUnderTest;
    let store: LeaseStore;

    beforeEach(async () => {
      subject = await factory();
      store = subject.store;
      await store.ensureSchema();
    });
    afterEach(async () => {
      await store.close();
      await subject.dispose?.();
    });

    /** `remainingUs` is `expectedMs` from now, give or take the store's slack, and never more. */
    const expectRemaining = (remainingUs: number, expectedMs: number) => {
      expect(remainingUs).toBeLessThanOrEqual(expectedMs * 1000);
      expect(remainingUs).toBeGreaterThanOrEqual(expectedMs * 1000 - subject.slackUs);
    };
    const expireShortLease = () => subject.elapse(SHORT_MS + 100);

    describe('rows', () => {
      it('read of an election without a row resolves undefined', async () => {
        expect(await store.read('nobody')).toBeUndefined();
      });

      it('ensureRow inserts an unheld, expired row with term 0', async () => {
        await store.ensureRow('e1');
        const row = await store.read('e1');
        expect(row).toMatchObject({ holder: '', term: 0, valid: false });
        expect(row!.remainingUs).toBeLessThan(0);
      });

      it('ensureRow is idempotent: on a held row it changes neither holder, term nor expiry', async () => {
        await store.ensureRow('e1');
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        const before = (await store.read('e1'))!;
        await store.ensureRow('e1');
        await store.ensureRow('e1');
        const after = (await store.read('e1'))!;
        expect(after).toMatchObject({ holder: 'a', term: 1, valid: true });
        expect(after.remainingUs).toBeLessThanOrEqual(before.remainingUs);
      });

      it('ensureSchema a second time keeps the rows already there', async () => {
        await store.ensureRow('e1');
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        await store.ensureSchema();
        expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
      });

      it('rows of different elections are independent', async () => {
        await store.ensureRow('e1');
        await store.ensureRow('e2');
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        expect(await store.read('e2')).toMatchObject({ holder: '', term: 0, valid: false });
        expect(await acquire(store, 'e2', 'b', 0, LONG_MS)).toBe(true);
        expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
        expect(await store.read('e2')).toMatchObject({ holder: 'b', term: 1, valid: true });
      });
    });

    describe('acquire: compare-and-swap on the observed term', () => {
      beforeEach(() => store.ensureRow('e1'));

      it('acquire of an election without a row loses', async () => {
        expect(await acquire(store, 'nobody', 'a', 0, LONG_MS)).toBe(false);
        expect(await store.read('nobody')).toBeUndefined();
      });

      it('acquire with the observed term wins, taking term observed + 1 and a full lease on the store clock', async () => {
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        const row = (await store.read('e1'))!;
        expect(row).toMatchObject({ holder: 'a', term: 1, valid: true });
        expectRemaining(row.remainingUs, LONG_MS);
      });

      it('of two candidates sending the same observed term at once, exactly one wins', async () => {
        const results = await Promise.all([
          acquire(store, 'e1', 'a', 0, LONG_MS),
          acquire(store, 'e1', 'b', 0, LONG_MS),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results[0] ? 'a' : 'b';
        expect(await store.read('e1')).toMatchObject({ holder: winner, term: 1, valid: true });
      });

      it('a second acquire with the same, now stale, observed term loses, even once the lease has expired', async () => {
        expect(await acquire(store, 'e1', 'a', 0, SHORT_MS)).toBe(true);
        await expireShortLease();
        expect(await acquire(store, 'e1', 'b', 0, LONG_MS)).toBe(false);
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(false);
        expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: false });
        // With the term it now observes, "b" wins and takes the next term.
        expect(await acquire(store, 'e1', 'b', 1, LONG_MS)).toBe(true);
        expect(await store.read('e1')).toMatchObject({ holder: 'b', term: 2, valid: true });
      });

      it('acquire with an observed term ahead of the row loses', async () => {
        expect(await acquire(store, 'e1', 'a', 1, LONG_MS)).toBe(false);
        expect(await acquire(store, 'e1', 'a', 5, LONG_MS)).toBe(false);
        expect(await store.read('e1')).toMatchObject({ holder: '', term: 0, valid: false });
      });

      it("acquire of another holder's valid lease loses and changes nothing; once expired it wins with the next term", async () => {
        expect(await acquire(store, 'e1', 'a', 0, MEDIUM_MS)).toBe(true);
        const before = (await store.read('e1'))!;
        expect(await acquire(store, 'e1', 'b', 1, LONG_MS)).toBe(false);
        const after = (await store.read('e1'))!;
        expect(after).toMatchObject({ holder: 'a', term: 1, valid: true });
        expect(after.remainingUs).toBeLessThanOrEqual(before.remainingUs);

        await subject.elapse(MEDIUM_MS + 100);
        expect(await acquire(store, 'e1', 'b', 1, LONG_MS)).toBe(true);
        expect(await store.read('e1')).toMatchObject({ holder: 'b', term: 2, valid: true });
      });

      it('every acquisition bumps the term by exactly one', async () => {
        const holders = ['a', 'b', 'b', 'a', 'c'];
        for (const [i, holder] of holders.entries()) {
          expect(await acquire(store, 'e1', holder, i, LONG_MS)).toBe(true);
          expect(await store.read('e1')).toMatchObject({ holder, term: i + 1, valid: true });
          expect(await store.release('e1', holder, i + 1)).toBe(true);
        }
      });

      it('the holder may re-acquire its own valid lease, which takes the next term and a full lease', async () => {
        expect(await acquire(store, 'e1', 'a', 0, 2_000)).toBe(true);
        await subject.elapse(200);
        expect(await acquire(store, 'e1', 'a', 1, LONG_MS)).toBe(true);
        const row = (await store.read('e1'))!;
        expect(row).toMatchObject({ holder: 'a', term: 2, valid: true });
        expectRemaining(row.remainingUs, LONG_MS);
      });

      it('the holder may re-acquire its own expired lease, with the next term', async () => {
        expect(await acquire(store, 'e1', 'a', 0, SHORT_MS)).toBe(true);
        await expireShortLease();
        expect(await acquire(store, 'e1', 'a', 1, LONG_MS)).toBe(true);
        expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 2, valid: true });
      });
    });

    describe('renew and release', () => {
      beforeEach(() => store.ensureRow('e1'));

      it('renew extends the lease from now, only for the matching holder and term while it is unexpired', async () => {
        expect(await acquire(store, 'e1', 'a', 0, 2_000)).toBe(true);
        await subject.elapse(500);
        expect(await store.renew('e1', 'b', 1, LONG_MS)).toBe(false);
        expect(await store.renew('e1', 'a', 2, LONG_MS)).toBe(false);
        expect(await store.renew('e1', 'a', 0, LONG_MS)).toBe(false);
        expect(await store.renew('other', 'a', 1, LONG_MS)).toBe(false);
        const before = (await store.read('e1'))!;
        expect(before).toMatchObject({ holder: 'a', term: 1, valid: true });
        expect(before.remainingUs).toBeLessThanOrEqual(1_500_000);

        expect(await store.renew('e1', 'a', 1, LONG_MS)).toBe(true);
        const after = (await store.read('e1'))!;
        expect(after).toMatchObject({ holder: 'a', term: 1, valid: true });
        expectRemaining(after.remainingUs, LONG_MS);
      });

      it('renew of an expired lease fails even for its holder and term, and leaves it expired', async () => {
        expect(await acquire(store, 'e1', 'a', 0, SHORT_MS)).toBe(true);
        await expireShortLease();
        expect(await store.renew('e1', 'a', 1, LONG_MS)).toBe(false);
        expect(await store.read('e1')).toMatchObject({ holder: 'a', term: 1, valid: false });
      });

      it('release expires the lease at once, keeps holder and term, and only for the matching holder and term', async () => {
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        expect(await store.release('e1', 'b', 1)).toBe(false);
        expect(await store.release('e1', 'a', 2)).toBe(false);
        expect(await store.release('other', 'a', 1)).toBe(false);
        expect((await store.read('e1'))!.valid).toBe(true);

        expect(await store.release('e1', 'a', 1)).toBe(true);
        const row = (await store.read('e1'))!;
        expect(row).toMatchObject({ holder: 'a', term: 1, valid: false });
        expect(row.remainingUs).toBeLessThan(0);
        // A released lease cannot be renewed, and anyone's next acquisition takes the next term at once.
        expect(await store.renew('e1', 'a', 1, LONG_MS)).toBe(false);
        expect(await acquire(store, 'e1', 'b', 1, LONG_MS)).toBe(true);
        expect(await store.read('e1')).toMatchObject({ holder: 'b', term: 2, valid: true });
      });
    });

    describe("the store's clock", () => {
      beforeEach(() => store.ensureRow('e1'));

      it('remainingUs counts down on the store clock and valid turns false when it reaches zero', async () => {
        expect(await acquire(store, 'e1', 'a', 0, 2_000)).toBe(true);
        await subject.elapse(500);
        const running = (await store.read('e1'))!;
        expect(running.valid).toBe(true);
        expectRemaining(running.remainingUs, 1_500);

        await subject.elapse(1_600);
        const expired = (await store.read('e1'))!;
        expect(expired.valid).toBe(false);
        expect(expired.remainingUs).toBeLessThanOrEqual(-100_000);
      });
    });

    describe('batches (readMany / renewMany)', () => {
      it(`has readMany and renewMany: ${features.batched}`, () => {
        expect(typeof store.readMany === 'function').toBe(features.batched);
        expect(typeof store.renewMany === 'function').toBe(features.batched);
      });
      if (!features.batched) return;

      it('readMany answers each existing row as read does, and leaves missing ones out', async () => {
        await store.ensureRow('e1');
        await store.ensureRow('e2');
        expect(await acquire(store, 'e1', 'a', 0, LONG_MS)).toBe(true);
        const rows = await store.readMany!(['e1', 'e2', 'nobody']);
        expect([...rows.keys()].sort()).toEqual(['e1', 'e2']);
        expect(rows.get('e1')).toMatchObject({ holder: 'a', term: 1, valid: true });
        expectRemaining(rows.get('e1')!.remainingUs, LONG_MS);
        expect(rows.get('e2')).toMatchObject({ holder: '', term: 0, valid: false });
      });

      it("renewMany renews only the holder's unexpired leases of the given terms and counts them", async () => {
        for (const election of ['e1', 'e2', 'e3', 'e4']) await store.ensureRow(election);
        expect(await acquire(store, 'e1', 'a', 0, 2_000)).toBe(true);
        expect(await acquire(store, 'e2', 'a', 0, 2_000)).toBe(true);
        expect(await acquire(store, 'e3', 'b', 0, 2_000)).toBe(true);
        expect(await acquire(store, 'e4', 'a', 0, SHORT_MS)).toBe(true);
        await expireShortLease();

        const renewed = await store.renewMany!(
          'a',
          [
            { name: 'e1', term: 1 },
            { name: 'e2', term: 2 }, // not the term held
            { name: 'e3', term: 1 }, // b's
            { name: 'e4', term: 1 }, // expired
          ],
          LONG_MS,
        );
        expect(renewed).toBe(1);
        const rows = await store.readMany!(['e1', 'e2', 'e3', 'e4']);
        expectRemaining(rows.get('e1')!.remainingUs, LONG_MS);
        expect(rows.get('e2')!.remainingUs).toBeLessThanOrEqual(2_000_000 - 400_000);
        expect(rows.get('e3')).toMatchObject({ holder: 'b', term: 1, valid: true });
        expect(rows.get('e3')!.remainingUs).toBeLessThanOrEqual(2_000_000 - 400_000);
        expect(rows.get('e4')).toMatchObject({ holder: 'a', term: 1, valid: false });
      });
    });
  });
}
