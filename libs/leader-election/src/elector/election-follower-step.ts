import type { LeaseRow } from '../store/lease-store';
import { LeaseStoreError } from '../store/lease-store';
import { readAtOnce } from './batching-lease-store';
import { seeTerm } from './election-context';
import type { StepHost } from './election-step-host';
import { RETRY_BASE_MS } from './election-errors';
import { traceStep } from './election-trace';

/** Consecutive lost races on a lease that read as free, from which reads look stale (logged once). */
const STALE_READ_RACES = 3;
/** Jitter added to an attempt aligned on the lease's expiry, so that followers do not collide exactly. */
const ALIGN_JITTER_MS = 10;
/** First re-read while a handover to this candidate is asked for but not made yet; doubles up to P. */
const HANDOVER_READ_MS = 10;

/**
 * The follower's step: read the row; acquire when it has expired, else wait for the next read or for
 * its expiry as the database reported it (or for the doorbell).
 */
export class FollowerStep {
  /** The row was created (or found) since the last configuration error. */
  private rowEnsured = false;
  /** Consecutive CAS attempts lost on a lease the read before had called free. */
  private lostRaces = 0;
  /** Whether the "reads look stale" warning was logged for the current run of lost races. */
  private staleReadsWarned = false;

  /** The next read goes out at once, outside any batching window (a doorbell rang). */
  private readAtOnce = false;
  /**
   * A doorbell rang: the next step starts with the compare-and-swap on the term read last, before any
   * read. After a graceful release that one statement is the whole takeover; after a crash (the lease
   * is still valid) it matches nothing and the read follows as before.
   */
  private casOnRing = false;
  /** Consecutive reads that found a handover to this candidate asked for but not made yet. */
  private handoverReads = 0;
  /**
   * No step ran yet: where the store can take a free lease in one statement, the first step tries that
   * before any read (a cold start on a free row elects in one statement; on a held row it matches
   * nothing, and the read follows as always).
   */
  private firstStep = true;

  constructor(private readonly host: StepHost) {}

  /** A doorbell rang: the next step's read goes out at once instead of joining a batch. */
  rung(): void {
    this.readAtOnce = true;
    this.casOnRing = true;
  }

  /** A configuration error: make sure of the table and the row again before the next read. */
  forgetRow(): void {
    this.rowEnsured = false;
  }

  /**
   * Whether the next step is a plain read (which may join the process's round): no ring, no aligned
   * attempt and no immediate read pending, and the row known to exist.
   */
  get plainRead(): boolean {
    return this.rowEnsured && !this.casOnRing && !this.readAtOnce && this.host.terms.aligned === undefined;
  }

  async run(): Promise<void> {
    const { host } = this;
    const casOnRing = this.casOnRing && this.rowEnsured;
    this.casOnRing = false;
    const aligned = host.terms.aligned;
    host.terms.aligned = undefined;
    const firstStep = this.firstStep;
    this.firstStep = false;
    if (aligned !== undefined && host.mayCampaign()) {
      if (await this.tryAcquire(aligned)) return;
    } else if (firstStep && host.deps.store.acquireFree && host.mayCampaign()) {
      await this.ensureRow();
      if (await this.takeFreeLease()) return;
    } else if (casOnRing && host.mayCampaign()) {
      // After a graceful release one statement is the whole takeover. A loss (a crash: the lease is
      // still valid) says nothing about a newer term, and the read below shows the row.
      if (await this.takeFreeLease()) return;
    }
    traceStep(host.deps.name, 'read sent');
    const row = await this.readRow();
    traceStep(host.deps.name, 'read answered');
    await this.afterRead(row);
  }

  /**
   * The step after a read of the row (alone, or in the process's round): synchronous unless it sends a
   * statement (an acquisition, a handover), then the promise of that.
   */
  afterRead(row: LeaseRow): Promise<void> | void {
    this.host.observe(row);
    if (!this.handoverInPlay(row)) {
      this.handoverReads = 0;
      return this.campaignOrWait(row);
    }
    return this.handover(row).then((done) => (done ? undefined : this.campaignOrWait(row)));
  }

  /** Campaigns when the row allows it (a promise: the acquisition), else plans the next step. */
  private campaignOrWait(row: LeaseRow): Promise<void> | void {
    const { host } = this;
    const { candidateId, timing, clock } = host.deps;
    const mayCampaign = host.mayCampaign();
    // A lease handed to this candidate is taken even within the pause after its own resign().
    const handedToUs = row.valid && row.holder === candidateId && row.handoverTo === candidateId;
    if ((mayCampaign && (!row.valid || row.holder === candidateId)) || (handedToUs && host.isRunning())) {
      return this.acquireAfterRead(row);
    }
    if (row.valid && row.holder !== candidateId) this.readsAgree();
    const remainingMs = row.remainingUs / 1000;
    if (row.valid && mayCampaign && host.bell?.active) {
      // Doorbell standby: no polling. Read again when the lease would run out (a paused leader that
      // keeps its lock never rings); right at that moment, try the CAS at once if the bell already rang.
      const recheckMs = host.bell.afterStep(row, clock.now()) ?? Infinity;
      if (remainingMs < recheckMs) {
        // With the lock in hand no other standby is woken: no jitter, the CAS right at the expiry.
        const rung = host.bell.rungFor(row.term);
        host.terms.aligned = rung ? row.term : undefined;
        host.loop.schedule(remainingMs + 1 + (rung ? 0 : host.random() * ALIGN_JITTER_MS));
      } else {
        host.loop.schedule(recheckMs);
      }
    } else if (row.valid && mayCampaign && remainingMs < timing.pollIntervalMs) {
      host.terms.aligned = row.term;
      host.loop.schedule(remainingMs + 1 + host.random() * ALIGN_JITTER_MS);
    } else {
      host.bell?.afterStep(row, clock.now());
      host.loop.scheduleOnGrid(timing.pollIntervalMs);
    }
  }

  /** The acquisition a read called possible; a lost race re-reads at once, then backs off. */
  private async acquireAfterRead(row: LeaseRow): Promise<void> {
    const { host } = this;
    const { clock } = host.deps;
    if (await this.tryAcquire(row.term)) return;
    // Lost the race: normally somebody else acquired between our read and our CAS, and one read at
    // once follows it. When reads keep calling the lease free and the CAS keeps failing, the reads
    // are stale (a replica): back off towards P instead of spinning.
    host.bell?.afterStep(row, clock.now());
    this.lostRaces++;
    if (this.lostRaces >= STALE_READ_RACES && !this.staleReadsWarned) {
      this.staleReadsWarned = true;
      host.deps.logger.warn(
        `Lease reads of "${host.deps.name}" disagree with the compare-and-swap: the lease reads as free ` +
          `but ${this.lostRaces} acquisitions in a row did not match. Are SELECTs routed to a replica? ` +
          'Send lease traffic to the primary only.',
      );
    }
    host.loop.schedule(this.lostRaces === 1 ? 0 : this.lostRaceDelay());
  }

  /** Whether `handover` has anything to do with this row (most reads: no, and no promise is made). */
  private handoverInPlay(row: LeaseRow): boolean {
    const { candidateId, preferred, store } = this.host.deps;
    if (!row.valid) return false;
    const to = row.handoverTo ?? '';
    if (to !== '') return to === candidateId ? row.holder !== candidateId : row.holder === candidateId;
    return preferred !== undefined && store.requestHandover !== undefined;
  }

  /**
   * Handover to a chosen candidate (docs/design.md): hands this candidate's given-up lease to the one
   * that asked for it, asks for the lease as a preferred candidate, and re-reads soon while a handover
   * to this candidate is asked for but not made yet. True when the step is done.
   */
  private async handover(row: LeaseRow): Promise<boolean> {
    const { host } = this;
    const { store, name, candidateId, preferred, timing } = host.deps;
    const to = row.handoverTo ?? '';
    if (row.valid && to !== '' && to !== candidateId && row.holder === candidateId && !host.held()) {
      // Our renewal failed because somebody asked for the lease: we stepped down; hand it over.
      this.handoverReads = 0;
      await host.handOverAsked(row.term, to);
      host.bell?.afterStep(row, host.deps.clock.now());
      host.loop.scheduleOnGrid(timing.pollIntervalMs);
      return true;
    }
    let asking = row.valid && to === candidateId && row.holder !== candidateId;
    if (
      !asking &&
      preferred !== undefined &&
      store.requestHandover &&
      row.valid &&
      to === '' &&
      candidateId.startsWith(preferred) &&
      row.holder !== '' &&
      !row.holder.startsWith('(') &&
      !row.holder.startsWith(preferred) &&
      host.mayCampaign()
    ) {
      // A preferred candidate and a leader that is not: ask for the lease. The leader's next renewal
      // fails and it hands over to us.
      asking = await store.requestHandover(name, row.term, candidateId);
      host.report.contact();
      if (asking)
        host.deps.logger.log(`Asked the leader of "${name}" (${row.holder}) to hand over (preferred).`);
    }
    if (!asking) {
      this.handoverReads = 0;
      return false;
    }
    // Asked for (by us or an operator), not handed over yet: the holder hands over within about R.
    const delay = Math.min(HANDOVER_READ_MS * 2 ** this.handoverReads, timing.pollIntervalMs);
    this.handoverReads++;
    host.loop.schedule(delay);
    return true;
  }

  /** Makes sure of the table and the row once (and again after a configuration error). */
  private async ensureRow(): Promise<void> {
    if (this.rowEnsured) return;
    await this.host.deps.ensureSchema();
    await this.host.deps.store.ensureRow(this.host.deps.name);
    this.rowEnsured = true;
  }

  private async readRow(): Promise<LeaseRow> {
    const { store, name } = this.host.deps;
    await this.ensureRow();
    const atOnce = this.readAtOnce;
    this.readAtOnce = false;
    const row = await (atOnce ? readAtOnce(store, name) : store.read(name));
    if (row) {
      this.host.report.contact();
      return row;
    }
    // The row was deleted under us: create it again.
    this.rowEnsured = false;
    await store.ensureRow(name);
    this.rowEnsured = true;
    const again = await store.read(name);
    if (!again) throw new LeaseStoreError('configuration', `The lease row "${name}" cannot be created.`);
    this.host.report.contact();
    return again;
  }

  /**
   * The takeover a ring sends: the store's `acquireFree` (the server picks the next term, so a standby
   * that waited on the doorbell through other handovers needs no fresh read), else the CAS on the term
   * read last (which loses when the term moved on meanwhile; the read follows).
   */
  private async takeFreeLease(): Promise<boolean> {
    const { host } = this;
    const { store, name, candidateId, timing, clock } = host.deps;
    if (!store.acquireFree) return this.tryAcquire(host.terms.seen, false);
    const tSend = clock.now();
    traceStep(name, 'cas sent');
    // An error may hide a win at a term this candidate cannot know: it never acts on it, and the lease
    // runs out (or a read shows this candidate as holder and it takes the lease again at a new term).
    const term = await store.acquireFree(name, candidateId, host.terms.highest, timing.leaseDurationMs);
    traceStep(name, 'cas answered');
    host.report.contact();
    if (term === undefined) return false;
    seeTerm(host.terms, term);
    if (!host.isRunning()) {
      host.terms.owned = term; // stopped while acquiring: hand it straight back
      return true;
    }
    this.readsAgree();
    host.becomeLeader(term, tSend);
    return true;
  }

  /**
   * Compare-and-swap on `observedTerm`. `lossMeansTaken`: a lost CAS means somebody took
   * `observedTerm + 1` (the term came from a read that called the lease free), so it is never handed out
   * by this candidate either; false for the CAS a ring sends on the term read before the wait.
   */
  private async tryAcquire(observedTerm: number, lossMeansTaken = true): Promise<boolean> {
    const { host } = this;
    const { store, name, candidateId, timing, clock } = host.deps;
    // The CAS still compares the observed term; the new one also goes above every term seen before.
    const term = Math.max(observedTerm, host.terms.highest) + 1;
    const tSend = clock.now();
    let won: boolean;
    traceStep(name, 'cas sent');
    try {
      won = await store.acquire(name, candidateId, observedTerm, timing.leaseDurationMs, term);
      traceStep(name, 'cas answered');
    } catch (error) {
      // It may have applied: never hand out this term again either.
      if (error instanceof LeaseStoreError && error.kind === 'outcome-unknown') seeTerm(host.terms, term);
      throw error;
    }
    host.report.contact();
    // Lost: somebody took at least `observedTerm + 1` (unless the read was stale); never hand that out
    // either, even if the row is deleted before this candidate reads the winner's term.
    if (won) seeTerm(host.terms, term);
    else if (lossMeansTaken) seeTerm(host.terms, observedTerm + 1);
    if (!won || !host.isRunning()) {
      if (won) {
        // Stopped while acquiring: hand it straight back.
        host.terms.owned = term;
      }
      return won;
    }
    this.readsAgree();
    host.becomeLeader(term, tSend);
    return true;
  }

  /** After the one immediate re-read, 50 ms doubling up to P (with jitter, never above P). */
  private lostRaceDelay(): number {
    const p = this.host.deps.timing.pollIntervalMs;
    const base = Math.min(RETRY_BASE_MS * 2 ** (this.lostRaces - 2), p);
    return Math.min(base * (0.75 + 0.5 * this.host.random()), p);
  }

  /** A read or an acquisition showed the lease as it is: the run of lost races ends. */
  private readsAgree(): void {
    this.lostRaces = 0;
    if (!this.staleReadsWarned) return;
    this.staleReadsWarned = false;
    this.host.deps.logger.log(
      `Lease reads of "${this.host.deps.name}" agree with the compare-and-swap again.`,
    );
  }
}
