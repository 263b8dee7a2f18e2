import type { ElectorLogger } from '../elector/election-state';
import type { LeaseDoorbell, LeaseRow, LeaseStore } from './lease-store';
import { termEndReason, type TermEnd, type TermsStore } from './terms-store';

/** Settings of the recording store. */
export interface TermRecordingOptions {
  /** Terms kept per election; older rows are deleted at acquisition. */
  readonly keep: number;
  /** Where a failed history write is reported (once, then again after a write succeeded). */
  readonly logger: ElectorLogger;
  /** Whether `ensureSchema()` also creates the terms table (`createTable`). */
  readonly createTable: boolean;
}

/** Resolves in the event loop's next check phase, after every microtask of this turn. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A lease store that writes the leadership history beside the lease table: after an acquisition that won
 * (the previous open term closed, the new one inserted) and after a release that went through. Renewals
 * and reads pass straight through: no history statement on any hot path. The history writes run after
 * the lease statement, in the background and in order per election, so that they never delay a grant;
 * a failed one is logged and the lease protocol goes on without it.
 */
export class TermRecordingLeaseStore implements LeaseStore {
  readonly readMany?: LeaseStore['readMany'];
  readonly renewMany?: LeaseStore['renewMany'];
  readonly openDoorbell?: (name: string) => LeaseDoorbell;
  readonly doorbellUnsupportedReason?: () => Promise<string | undefined>;
  readonly readPrefix?: LeaseStore['readPrefix'];
  readonly deleteExpiredPrefix?: LeaseStore['deleteExpiredPrefix'];
  readonly requestHandover?: LeaseStore['requestHandover'];
  /** Recorded like `acquire`, at the term the server picked. */
  readonly acquireFree?: LeaseStore['acquireFree'];
  /** The term handed over is recorded `handed-over`. */
  readonly handOver?: LeaseStore['handOver'];
  private readonly queues = new Map<string, Promise<void>>();
  private failing = false;
  /** Settled once the terms table was found or created (with `createTable`); reset when that failed. */
  private schema: Promise<void> | undefined;

  constructor(
    private readonly inner: LeaseStore,
    private readonly terms: TermsStore,
    private readonly options: TermRecordingOptions,
  ) {
    this.readMany = inner.readMany?.bind(inner);
    this.renewMany = inner.renewMany?.bind(inner);
    this.openDoorbell = inner.openDoorbell?.bind(inner);
    this.doorbellUnsupportedReason = inner.doorbellUnsupportedReason?.bind(inner);
    this.readPrefix = inner.readPrefix?.bind(inner);
    this.deleteExpiredPrefix = inner.deleteExpiredPrefix?.bind(inner);
    this.requestHandover = inner.requestHandover?.bind(inner);
    const { acquireFree, handOver } = inner;
    if (acquireFree) {
      this.acquireFree = async (name, holder, aboveTerm, leaseMs) => {
        const term = await acquireFree.call(inner, name, holder, aboveTerm, leaseMs);
        if (term !== undefined) this.recordAcquired(name, holder, term);
        return term;
      };
    }
    if (handOver) {
      this.handOver = async (name, holder, term, to, windowMs) => {
        const handed = await handOver.call(inner, name, holder, term, to, windowMs);
        if (handed) this.recordEnded(name, holder, term, { by: 'handover' });
        return handed;
      };
    }
  }

  ensureSchema(): Promise<void> {
    // The terms table is checked (and created) before the first history write instead: a candidate that
    // never leads opens no connection for it.
    return this.inner.ensureSchema();
  }

  ensureRow(name: string): Promise<void> {
    return this.inner.ensureRow(name);
  }

  read(name: string): Promise<LeaseRow | undefined> {
    return this.inner.read(name);
  }

  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    return this.inner.renew(name, holder, term, leaseMs);
  }

  async acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm = observedTerm + 1,
  ): Promise<boolean> {
    const won = await this.inner.acquire(name, holder, observedTerm, leaseMs, newTerm);
    if (won) this.recordAcquired(name, holder, newTerm);
    return won;
  }

  async release(
    name: string,
    holder: string,
    term: number,
    end?: TermEnd,
    doorbell?: LeaseDoorbell,
  ): Promise<boolean> {
    const released = await this.inner.release(name, holder, term, end, doorbell);
    if (released) this.recordEnded(name, holder, term, end ?? { by: 'holder', resign: false });
    return released;
  }

  /** Queues the history of a won acquisition: the previous open term closed, this one inserted. */
  private recordAcquired(name: string, holder: string, term: number): void {
    // A term still open here was neither released, resigned nor handed over (those close it): it ran out.
    const previousEnd = termEndReason({ by: 'takeover' });
    this.enqueue(name, async () => {
      await this.ensureTermsTable();
      await this.terms.recordAcquired(name, holder, term, previousEnd, this.options.keep);
    });
  }

  /** Queues the end of a term this process gave up (released, resigned, handed over). */
  private recordEnded(name: string, holder: string, term: number, end: TermEnd): void {
    const reason = termEndReason(end);
    this.enqueue(name, () => this.terms.recordEnded(name, holder, term, reason));
  }

  /** The history is a record, not part of the protocol: without its table the elections still run. */
  private ensureTermsTable(): Promise<void> {
    if (!this.options.createTable) return Promise.resolve();
    this.schema ??= this.terms.ensureSchema().catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  /** Resolves once every history write queued so far has been sent (or has failed). */
  async flush(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all([this.inner.close(), this.terms.close()]);
  }

  private enqueue(name: string, write: () => Promise<void>): void {
    const previous = this.queues.get(name) ?? Promise.resolve();
    // Not before this turn of the event loop is over: the grant (the elected event, the granted hooks)
    // and, after a release, the doorbell's RELEASE_LOCK go out first. Opening the history connection
    // ahead of them cost a handover 1 to 4 ms (bench/trace-handover.ts).
    const next = previous
      .then(nextTurn)
      .then(write)
      .then(
        () => {
          this.failing = false;
        },
        (error: unknown) => this.reportFailure(error),
      );
    this.queues.set(name, next);
    void next.then(() => {
      if (this.queues.get(name) === next) this.queues.delete(name);
    });
  }

  /** Logs a failed history statement once, and again only after one succeeded in between. */
  private reportFailure(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.options.logger.warn(
      `Could not write the leadership history (elections are not affected; getHistory() and the CLI's ` +
        `history miss these terms): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
