import { DEFAULT_DOORBELL_WAIT_MS } from '../leader-election.constants';
import type { LeaseRow } from '../store/lease-store';
import type { TermEnd } from '../store/terms-store';
import { LeaseStoreError } from '../store/lease-store';
import {
  handoverWindowMs,
  seeTerm,
  type ElectionDeps,
  type ElectionTerms,
  type HeldTerm,
} from './election-context';
import { ElectionDoorbell } from './election-doorbell';
import { traceStep } from './election-trace';
import {
  planAfterStepError,
  RetryBackoff,
  sentence,
  toStoreError,
  type StepErrorRole,
} from './election-errors';
import { FollowerStep } from './election-follower-step';
import { LeaderStep } from './election-leader-step';
import { StepLoop } from './election-loop';
import { ElectionReport } from './election-report';
import { SharedDeadlines } from './shared-deadlines';
import type { RoundJob, RoundOutcome } from './step-round';
import type { ElectionState } from './election-state';
import type { StepHost } from './election-step-host';

export type { ElectionDeps } from './election-context';

/** A follower's job in the rounds (the same for every election). */
const READ_JOB: RoundJob = { kind: 'read' };

/** How long a candidate that resigned leaves the lease to others before it campaigns again. */
const resignPauseMs = (deps: ElectionDeps) => deps.timing.leaseDurationMs;

/**
 * One election as seen by one candidate: the state machine of docs/design.md.
 *
 * - A follower reads the lease every P, and also wakes when the database says the lease runs out, then
 *   tries the compare-and-swap acquisition.
 * - A leader renews every R. Its belief ends at `t_send + L - M` on the monotonic clock, `t_send` taken
 *   before the statement that confirmed the lease: `isLeader()` compares the clock at every call, so a
 *   process paused past that point reads `false` the moment it wakes, before any timer runs.
 * - At most one statement of an election is in flight at a time.
 *
 * This file holds the public class, its state and its transitions. The steps are `FollowerStep` and
 * `LeaderStep`, their timer loop `StepLoop`; failed steps are classified in `election-errors.ts`; state,
 * events and health are reported by `ElectionReport`; the doorbell is `ElectionDoorbell`.
 */
export class Election {
  /** The term acted on as leader; set only while `isLeader()` may be true. */
  private held: HeldTerm | undefined;
  private readonly terms: ElectionTerms = { seen: 0, owned: undefined, highest: 0, aligned: undefined };
  private status: ElectionState['status'] = 'idle';
  /** Monotonic time before which a candidate that resigned does not campaign. */
  private resignedUntil = -Infinity;
  /** The term this election renews in the round in flight (`undefined`: it reads). */
  private roundTerm: number | undefined;
  /** Its job in the rounds while it holds `renewJob.term`. */
  private renewJob: Extract<RoundJob, { kind: 'renew' }> | undefined;
  private readonly backoff = new RetryBackoff(() => this.random());
  private readonly deadlines: SharedDeadlines;
  private readonly report: ElectionReport;
  private readonly loop: StepLoop;
  private readonly bell: ElectionDoorbell | undefined;
  private readonly follower: FollowerStep;
  private readonly leader: LeaderStep;

  constructor(private readonly deps: ElectionDeps) {
    this.deadlines = deps.deadlines ?? new SharedDeadlines(deps.clock);
    this.report = new ElectionReport(deps, {
      terms: this.terms,
      isLeader: () => this.isLeader(),
      standbyMode: () => this.standbyMode,
      status: () => this.status,
    });
    this.loop = new StepLoop({
      clock: deps.clock,
      alignStepsToMs: deps.alignStepsToMs,
      pollIntervalMs: deps.timing.pollIntervalMs,
      stopped: () => this.status === 'stopped',
      step: () => (this.terms.owned !== undefined ? this.leader.run() : this.follower.run()),
      onSuccess: () => this.recovered(),
      onError: (error) => this.onStepError(error),
      round: deps.round && {
        rounds: deps.round,
        name: deps.name,
        job: () => {
          const term = this.terms.owned;
          this.roundTerm = term;
          if (term === undefined) return this.follower.plainRead ? READ_JOB : undefined;
          // The same job every round while the term is held: nothing allocated per election per round.
          if (this.renewJob?.term !== term) this.renewJob = { kind: 'renew', name: deps.name, term };
          return this.renewJob;
        },
        after: (outcome) => this.afterRound(outcome),
      },
    });
    this.bell =
      deps.doorbell &&
      new ElectionDoorbell(deps.doorbell, {
        election: deps.name,
        logger: deps.logger,
        waitMs: deps.doorbellWaitMs ?? DEFAULT_DOORBELL_WAIT_MS,
        renewIntervalMs: deps.timing.renewIntervalMs,
        pollIntervalMs: deps.timing.pollIntervalMs,
        candidateId: deps.candidateId,
        onUnheld: (ms) => this.readWithin(ms),
        setTimeout: (callback, ms) => deps.clock.setTimeout(callback, ms),
        mayWait: () => this.status === 'running' && !this.held,
        onRing: () => {
          this.report.leaderGone();
          this.follower.rung();
          this.loop.stepNow();
        },
        onDisabled: () => {
          // A standby waiting for the lease to run out must poll from now on.
          if (this.terms.owned === undefined && !this.loop.inFlight)
            this.loop.schedule(deps.timing.pollIntervalMs);
        },
      });
    const host: StepHost = {
      deps,
      terms: this.terms,
      report: this.report,
      loop: this.loop,
      bell: this.bell,
      backoff: this.backoff,
      deadlines: this.deadlines,
      held: () => this.held,
      isRunning: () => this.status === 'running',
      mayCampaign: () =>
        this.status === 'running' && deps.clock.now() >= this.resignedUntil && (deps.mayCampaign?.() ?? true),
      random: () => this.random(),
      observe: (row) => this.observe(row),
      becomeLeader: (term, tSend) => this.becomeLeader(term, tSend),
      endLeadership: (reason, unexpected) => this.endLeadership(reason, unexpected),
      handOverAsked: (term, to) => this.handOverAsked(term, to),
    };
    this.follower = new FollowerStep(host);
    this.leader = new LeaderStep(host);
  }

  /** How standbys learn of a free lease: `doorbell` (named lock) or `poll` (every P). */
  get standbyMode(): 'doorbell' | 'poll' {
    return this.bell?.active ? 'doorbell' : 'poll';
  }

  /** Falls back from the doorbell to polling, with one log line saying why. */
  disableDoorbell(reason: string): void {
    this.bell?.disable(reason);
  }

  /** The election's name. */
  get name(): string {
    return this.deps.name;
  }

  /** True only while this candidate holds a lease it may still act on; evaluated at every call. */
  isLeader(): boolean {
    return (
      this.held !== undefined && this.status === 'running' && this.deps.clock.now() < this.held.validUntil
    );
  }

  /** The current leadership's term and abort signal, or `undefined` when not leader. */
  currentLeadership(): { term: number; signal: AbortSignal } | undefined {
    if (!this.isLeader() || !this.held) return undefined;
    return { term: this.held.term, signal: this.held.controller.signal };
  }

  /** The leader's candidate id as last read (`getState().leaderId`, without building a snapshot). */
  get leaderId(): string | null {
    return this.report.record.leaderId;
  }

  /** A snapshot of this election's state. */
  getState(): ElectionState {
    return this.report.snapshot();
  }

  /** Milliseconds in all during which this candidate's reads showed no valid lease (for metrics). */
  leaderlessMs(): number {
    return this.report.leaderlessMs();
  }

  /** Starts campaigning: the first read happens at once. */
  start(): void {
    if (this.status !== 'idle') return;
    this.status = 'running';
    this.loop.schedule(0);
  }

  /**
   * Stops acting as leader without giving the lease up yet: leadership ends for the application
   * (signal aborted, `revoked` emitted) while renewals go on, so that nobody else can start leader work
   * before the caller has drained its own. Followed by `stop()`.
   */
  beginShutdown(): void {
    if (this.status !== 'running') return;
    traceStep(this.deps.name, 'begin shutdown');
    this.status = 'draining';
    this.endLeadership('the application is shutting down', false);
  }

  /** Stops the election for good and releases the lease when this candidate still holds it. */
  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    traceStep(this.deps.name, 'stop');
    this.beginShutdown();
    this.status = 'stopped';
    this.loop.cancel();
    if (this.held?.expiry) this.deadlines.remove(this.held.expiry);
    if (this.held) this.held.expiry = undefined;
    if (this.loop.inFlight) await this.loop.inFlight;
    this.endLeadership('the election was stopped', false);
    // The lease row first, then the doorbell, in one statement where the store can (a standby that
    // wakes must find the lease free); close() frees a lock still held.
    await this.releaseOwned();
    traceStep(this.deps.name, 'row released');
    await this.bell?.close();
    traceStep(this.deps.name, 'lock released');
  }

  /**
   * Gives leadership up now and releases the lease so that another candidate takes over at its next
   * read; this candidate does not campaign again for one lease duration. Resolves `false` when this
   * candidate was not leader.
   */
  async resign(options: { to?: string; windowMs?: number } = {}): Promise<boolean> {
    const { to } = options;
    const { store, name, candidateId } = this.deps;
    if (to !== undefined && !store.handOver) {
      throw new LeaseStoreError(
        'configuration',
        `This lease store cannot hand "${name}" to a chosen candidate.`,
      );
    }
    if (!this.isLeader()) return false;
    if (to === candidateId) return true; // already the leader
    if (to === undefined) this.endLeadership('resigned', false);
    else this.endLeadership(`resigned, handing over to ${to}`, false);
    this.resignedUntil = this.deps.clock.now() + resignPauseMs(this.deps);
    await this.loop.inFlight;
    if (to === undefined) {
      await this.releaseOwned({ by: 'holder', resign: true });
    } else {
      const term = this.terms.owned;
      if (term === undefined) return true;
      this.terms.owned = undefined;
      traceStep(name, 'handover sent');
      try {
        await store.handOver!(name, candidateId, term, to, options.windowMs ?? handoverWindowMs(this.deps));
        this.report.contact();
      } catch (error) {
        // The lease then simply runs out after L.
        this.report.fail(
          error instanceof LeaseStoreError ? error : new LeaseStoreError('not-applied', String(error)),
        );
      }
      traceStep(name, 'handover answered');
      if (this.report.record.leaderId === candidateId) this.report.setLeader(to);
    }
    await this.bell?.release();
    this.listenAfterResign();
    return true;
  }

  /**
   * After a resign, a standby with a doorbell reads at once and listens as soon as the successor holds
   * the lock: its next planned step may be up to R away, and a handover back to it (or a ring) must not
   * wait for that.
   */
  private listenAfterResign(): void {
    if (!this.bell?.active || this.status !== 'running' || this.terms.owned !== undefined) return;
    this.bell.expectSuccessor();
    if (!this.loop.inFlight) this.loop.schedule(0);
  }

  /**
   * A follower found its own (given up) lease asked for by `to`: hands it over, and wakes the standbys.
   * Safe: this candidate does not act on the lease any more (its renewal failed and it stepped down).
   */
  async handOverAsked(term: number, to: string): Promise<void> {
    const { store, name, candidateId } = this.deps;
    if (!store.handOver) return;
    await store.handOver(name, candidateId, term, to, handoverWindowMs(this.deps));
    this.report.contact();
    this.deps.logger.log(`Handed "${name}" (term ${term}) over to ${to}, as it asked.`);
    await this.bell?.release();
  }

  /** A follower reads the row (and campaigns if it may) now instead of at its next planned step. */
  stepNow(): void {
    if (this.status !== 'running' || this.terms.owned !== undefined) return;
    this.terms.aligned = undefined;
    this.loop.stepNow();
  }

  /** Doorbell: makes sure a follower reads the row within `ms` (sooner if already planned). */
  private readWithin(ms: number): void {
    if (this.terms.owned !== undefined || this.loop.inFlight || this.status !== 'running') return;
    if (this.loop.dueBy(this.deps.clock.now() + ms)) return;
    this.terms.aligned = undefined;
    this.loop.schedule(ms);
  }

  /** The rest of the step once the process's round answered (see `StepRound`). */
  private afterRound(outcome: RoundOutcome): Promise<void> | void {
    switch (outcome.kind) {
      case 'failed':
        throw outcome.error;
      case 'retry':
        // stop() may be waiting for this round: a stopped election sends nothing more.
        if (this.status === 'stopped') return undefined;
        return this.terms.owned !== undefined ? this.leader.run() : this.follower.run();
      case 'renewed':
        if (this.roundTerm === undefined) return undefined;
        this.leader.afterRenewal(this.roundTerm, outcome.tSend, outcome.renewed);
        return undefined;
      case 'read':
        // The row was deleted under us: the step of its own creates it again.
        if (!outcome.row) return this.status === 'stopped' ? undefined : this.follower.run();
        this.report.contact();
        return this.follower.afterRead(outcome.row);
    }
  }

  /** A step failed: record it, step down where docs/design.md says so, and plan the retry. */
  private onStepError(error: unknown): void {
    const storeError = toStoreError(error);
    this.report.fail(storeError);
    if (storeError.kind === 'configuration') this.follower.forgetRow();
    const held = this.held;
    const role: StepErrorRole = held
      ? 'leader'
      : this.status === 'draining' && this.terms.owned !== undefined
        ? 'holder'
        : 'follower';
    const plan = planAfterStepError(storeError.kind, role, this.deps.timing);
    if (plan.stepDown) {
      this.terms.owned = undefined;
      this.endLeadership(`a lease statement failed (${storeError.kind}): ${storeError.message}`, true);
    }
    const delayMs = this.backoff.next(plan.retryCapMs);
    // The lease is still ours: the retry must come before the local deadline.
    const left = held ? held.validUntil - this.deps.clock.now() : Infinity;
    this.loop.schedule(plan.beforeDeadline ? Math.min(delayMs, Math.max(0, left - 1)) : delayMs);
  }

  // ---- transitions -----------------------------------------------------------------------------------

  /** Won the acquisition of `term`, sent at `tSend`: lead. */
  private becomeLeader(term: number, tSend: number): void {
    const { candidateId, name, timing } = this.deps;
    this.terms.owned = term;
    this.terms.seen = term;
    this.held = { term, controller: new AbortController(), validUntil: -Infinity, expiry: undefined };
    this.leader.confirmLease(term, tSend);
    this.recovered();
    this.backoff.reset();
    this.report.setLeader(candidateId);
    traceStep(name, 'elected');
    this.report.emit('elected', term);
    this.deps.logger.log(`Elected leader of "${name}" (term ${term}) as ${candidateId}.`);
    this.loop.scheduleOnGrid(timing.renewIntervalMs);
    void this.bell?.hold();
  }

  /** Ends the current leadership for the application: signal aborted, `revoked` emitted once. */
  private endLeadership(reason: string, unexpected: boolean): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    if (held.expiry) this.deadlines.remove(held.expiry);
    held.controller.abort(new Error(`Leadership of "${this.deps.name}" ended: ${sentence(reason)}`));
    const message = `Stepped down as leader of "${this.deps.name}" (term ${held.term}): ${sentence(reason)}`;
    if (unexpected) {
      this.deps.logger.warn(message);
      // Wake a standby now: it reads the row and takes over as soon as the lease allows.
      void this.bell?.release();
    } else {
      this.deps.logger.log(message);
    }
    this.report.emit('revoked', held.term, reason);
  }

  /** Gives the owned term back to the database (stop, resign). */
  private async releaseOwned(end?: TermEnd): Promise<void> {
    const term = this.terms.owned;
    if (term === undefined) return;
    this.terms.owned = undefined;
    const { store, name, candidateId } = this.deps;
    try {
      // With the doorbell's lock in hand, the store may free the row and the lock in one statement.
      // Awaited only while a GET_LOCK is in flight: the release is sent in the caller's turn otherwise.
      const pending = this.bell?.pendingHold;
      if (pending) await pending;
      await store.release(name, candidateId, term, end, this.bell?.lockInHand);
      this.report.contact();
      this.report.record.leaseEndsAtWall = null;
      if (this.report.record.leaderId === candidateId) this.report.setLeader(null);
    } catch (error) {
      // The lease then simply runs out after L.
      const storeError =
        error instanceof LeaseStoreError ? error : new LeaseStoreError('not-applied', String(error));
      this.report.fail(storeError);
    }
  }

  /** Takes in what a read of the row showed: the term seen, the leader, the lease's end. */
  private observe(row: LeaseRow): void {
    const { clock, candidateId } = this.deps;
    if (row.term > this.terms.seen) this.terms.seen = row.term;
    seeTerm(this.terms, row.term);
    if (row.valid) {
      this.report.record.leaseEndsAtWall = clock.wallNow() + row.remainingUs / 1000;
      this.report.setLeader(row.holder === candidateId && !this.held ? null : row.holder);
    } else {
      this.report.record.leaseEndsAtWall = null;
      this.report.setLeader(null);
    }
  }

  /** A step (or an acquisition) went through: healthy again, and the retry backoff starts over. */
  private recovered(): void {
    if (this.report.recovered()) this.backoff.reset();
  }

  private random(): number {
    return (this.deps.random ?? Math.random)();
  }
}
