import { DEFAULT_BATCH_WINDOW_MS } from '../leader-election.constants';
import type { LeaseDoorbell, LeaseRow, LeaseStore } from '../store/lease-store';
import type { TermEnd } from '../store/terms-store';
import { systemClock, type Clock } from './clock';

/** Settings of a `BatchingLeaseStore`. */
export interface BatchingLeaseStoreOptions {
  /** The clock whose timers time the collection window (the elector's, so that tests can fake it). */
  readonly clock?: Clock;
  /** How long statements are collected before one is sent. Default `DEFAULT_BATCH_WINDOW_MS`. */
  readonly windowMs?: number;
}

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces the reads and renewals that several elections of one process issue within a few milliseconds
 * of each other into one statement each (`name IN (...)`), so that a process in 100 elections costs about
 * one read per P and one renewal per R, not 100. Elections align their regular steps on a common grid
 * so that they do issue them together. Everything else passes straight through.
 */
export class BatchingLeaseStore implements LeaseStore {
  private reads = new Map<string, Pending<LeaseRow | undefined>[]>();
  private renewals: {
    name: string;
    holder: string;
    term: number;
    leaseMs: number;
    pending: Pending<boolean>;
  }[] = [];
  private flushQueued = false;
  private readonly clock: Clock;
  private readonly windowMs: number;

  /** Present when the inner store has doorbells. */
  readonly openDoorbell?: (name: string) => LeaseDoorbell;
  /** Present when the inner store can take a free lease at a term of the server's choosing. */
  readonly acquireFree?: LeaseStore['acquireFree'];
  /** Present when the inner store can hand a lease to a chosen candidate. */
  readonly handOver?: LeaseStore['handOver'];
  readonly requestHandover?: LeaseStore['requestHandover'];
  /** Present when the inner store can list rows by prefix (balanced groups). */
  readonly readPrefix?: (prefix: string) => Promise<Map<string, LeaseRow>>;
  readonly deleteExpiredPrefix?: (prefix: string, expiredForMs: number) => Promise<number>;

  constructor(
    private readonly inner: LeaseStore & Required<Pick<LeaseStore, 'readMany' | 'renewMany'>>,
    options: BatchingLeaseStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.windowMs ?? DEFAULT_BATCH_WINDOW_MS;
    if (inner.openDoorbell) this.openDoorbell = (name) => inner.openDoorbell!(name);
    if (inner.acquireFree) this.acquireFree = inner.acquireFree.bind(inner);
    if (inner.handOver) this.handOver = inner.handOver.bind(inner);
    if (inner.requestHandover) this.requestHandover = inner.requestHandover.bind(inner);
    if (inner.readPrefix) this.readPrefix = (prefix) => inner.readPrefix!(prefix);
    if (inner.deleteExpiredPrefix) {
      this.deleteExpiredPrefix = (prefix, ms) => inner.deleteExpiredPrefix!(prefix, ms);
    }
  }

  /** Whether `store` can batch at all. */
  static supports(
    store: LeaseStore,
  ): store is LeaseStore & Required<Pick<LeaseStore, 'readMany' | 'renewMany'>> {
    return typeof store.readMany === 'function' && typeof store.renewMany === 'function';
  }

  ensureSchema(): Promise<void> {
    return this.inner.ensureSchema();
  }
  ensureRow(name: string): Promise<void> {
    return this.inner.ensureRow(name);
  }
  acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm?: number,
  ): Promise<boolean> {
    return this.inner.acquire(name, holder, observedTerm, leaseMs, newTerm);
  }
  release(
    name: string,
    holder: string,
    term: number,
    end?: TermEnd,
    doorbell?: LeaseDoorbell,
  ): Promise<boolean> {
    return this.inner.release(name, holder, term, end, doorbell);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  doorbellUnsupportedReason(): Promise<string | undefined> {
    return this.inner.doorbellUnsupportedReason?.() ?? Promise.resolve(undefined);
  }

  read(name: string): Promise<LeaseRow | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.reads.get(name) ?? [];
      waiting.push({ resolve, reject });
      this.reads.set(name, waiting);
      this.queueFlush();
    });
  }

  /** Straight to the inner store: the statement of a `StepRound`, which batched the names already. */
  readMany(names: readonly string[]): Promise<Map<string, LeaseRow>> {
    return this.inner.readMany(names);
  }

  /** Straight to the inner store: the statement of a `StepRound`, which batched the leases already. */
  renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number> {
    return this.inner.renewMany(holder, leases, leaseMs);
  }

  /** One read sent at once, outside any collection window: a doorbell rang, the lease was just freed. */
  readNow(name: string): Promise<LeaseRow | undefined> {
    return this.inner.read(name);
  }

  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.renewals.push({ name, holder, term, leaseMs, pending: { resolve, reject } });
      this.queueFlush();
    });
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Steps due on the same grid point do not all fire in one turn of the event loop (timers are kept
    // per millisecond, and a busy turn delays the next): collect for a few milliseconds.
    this.clock.setTimeout(() => {
      this.flushQueued = false;
      void this.flushReads();
      void this.flushRenewals();
    }, this.windowMs);
  }

  private async flushReads(): Promise<void> {
    const reads = this.reads;
    this.reads = new Map();
    if (reads.size === 0) return;
    try {
      const rows = reads.size === 1 ? undefined : await this.inner.readMany([...reads.keys()]);
      for (const [name, waiting] of reads) {
        const row = rows ? rows.get(name) : await this.inner.read(name);
        waiting.forEach((pending) => pending.resolve(row));
      }
    } catch (error) {
      for (const waiting of reads.values()) waiting.forEach((pending) => pending.reject(error));
    }
  }

  private async flushRenewals(): Promise<void> {
    const renewals = this.renewals;
    this.renewals = [];
    // One statement per (holder, lease duration): in practice one.
    const groups = new Map<string, typeof renewals>();
    for (const renewal of renewals) {
      const key = `${renewal.holder}\u0000${renewal.leaseMs}`;
      const group = groups.get(key);
      if (group) group.push(renewal);
      else groups.set(key, [renewal]);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        try {
          if (group.length === 1) {
            const [one] = group;
            one.pending.resolve(await this.inner.renew(one.name, one.holder, one.term, one.leaseMs));
            return;
          }
          const { holder, leaseMs } = group[0];
          const renewed = await this.inner.renewMany(holder, group, leaseMs);
          if (renewed === group.length) {
            group.forEach((renewal) => renewal.pending.resolve(true));
            return;
          }
          // Some lease was lost: find out which, one statement each (they renew again, harmlessly), all
          // at once so that they share one deadline instead of queueing one behind another. Each answers
          // its own caller: one election's failure must not end another's leadership.
          await Promise.all(
            group.map((renewal) =>
              this.inner.renew(renewal.name, holder, renewal.term, leaseMs).then(
                (renewed) => renewal.pending.resolve(renewed),
                (error: unknown) => renewal.pending.reject(error),
              ),
            ),
          );
        } catch (error) {
          group.forEach((renewal) => renewal.pending.reject(error));
        }
      }),
    );
  }
}

/** Reads `name` at once: past the collection window of a `BatchingLeaseStore`, straight otherwise. */
export function readAtOnce(store: LeaseStore, name: string): Promise<LeaseRow | undefined> {
  return store instanceof BatchingLeaseStore ? store.readNow(name) : store.read(name);
}
