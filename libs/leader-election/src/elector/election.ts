import type { LeaseDoorbell, LeaseErrorKind, LeaseRow, LeaseStore } from '../store/lease-store';
import { LeaseStoreError } from '../store/lease-store';
import type { Clock, TimerHandle } from './clock';
import { ElectionDoorbell } from './election-doorbell';
import type {
  ElectionEvent,
  ElectionEventType,
  ElectionState,
  ElectionTiming,
  ElectorLogger,
} from './election-state';

/** Everything one election needs from the outside; no Nest, no SQL. */
export interface ElectionDeps {
  readonly name: string;
  readonly candidateId: string;
  readonly store: LeaseStore;
  readonly timing: ElectionTiming;
  readonly clock: Clock;
  readonly logger: ElectorLogger;
  /** Makes sure the lease table exists before the first statement (shared by all elections). */
  readonly ensureSchema: () => Promise<void>;
  /** Called once per transition. */
  readonly onEvent: (event: ElectionEvent) => void;
  /** A number in [0, 1); injectable so that tests are exact. */
  readonly random?: () => number;
  /** Where given, standbys wait on it instead of polling every P (see ElectionDoorbell). */
  readonly doorbell?: LeaseDoorbell;
  /** How long one doorbell wait blocks before it is sent again. Default 60 s. */
  readonly doorbellWaitMs?: number;
  /**
   * Where set, regular renewals and polls fall due on the nearest multiple of this many ms of the
   * monotonic clock, so that the elections of one process issue them together and a batching store
   * sends one statement. Must keep `R + grid / 2 < L - M`.
   */
  readonly alignStepsToMs?: number;
}

/** The leadership this candidate holds right now. */
interface Leadership {
  readonly term: number;
  readonly controller: AbortController;
}

/** Smallest wait before retrying a failed statement. */
const RETRY_BASE_MS = 50;
/** Consecutive lost races on a lease that read as free, from which reads look stale (logged once). */
const STALE_READ_RACES = 3;
/** Jitter added to an attempt aligned on the lease's expiry, so that followers do not collide exactly. */
const ALIGN_JITTER_MS = 10;
/** How long a candidate that resigned leaves the lease to others before it campaigns again. */
const resignPauseMs = (timing: ElectionTiming) => timing.leaseDurationMs;

/**
 * One election as seen by one candidate: the state machine of docs/design.md.
 *
 * - A follower reads the lease every P, and also wakes when the database says the lease runs out, then
 *   tries the compare-and-swap acquisition.
 * - A leader renews every R. Its belief ends at `t_send + L - M` on the monotonic clock, `t_send` taken
 *   before the statement that confirmed the lease: `isLeader()` compares the clock at every call, so a
 *   process paused past that point reads `false` the moment it wakes, before any timer runs.
 * - At most one statement of an election is in flight at a time.
 */
export class Election {
  private leadership: Leadership | undefined;
  /** Monotonic time until which the current leadership may act. */
  private validUntil = -Infinity;
  /** Term this candidate holds in the database and has not released, even while not acting on it. */
  private ownedTerm: number | undefined;
  private term = 0;
  /**
   * The highest term this candidate has seen, held, or may hold (an acquisition whose outcome is
   * unknown): the next acquisition goes above it, so that a row deleted and re-created at term 0 never
   * hands out a fencing token again.
   */
  private highestTerm = 0;
  private leaderId: string | null = null;
  private leaseEndsAtWall: number | null = null;
  private lastRenewedAtWall: number | null = null;
  private lastContactMono: number | null = null;
  private lastContactWall: number | null = null;
  private lastError: LeaseStoreError | null = null;
  private status: ElectionState['status'] = 'idle';
  private rowEnsured = false;
  private retryDelayMs = 0;
  /** Consecutive CAS attempts lost on a lease the read before had called free. */
  private lostRaces = 0;
  /** Whether the "reads look stale" warning was logged for the current run of lost races. */
  private staleReadsWarned = false;
  private resignedUntil = -Infinity;
  private stepTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  /** Set while a wake-up aligned on the lease's expiry is pending: try the CAS on this term at once. */
  private alignedTerm: number | undefined;
  /** A step was asked for while another was in flight: run it right after. */
  private stepAsap = false;
  /** Monotonic time the pending step is due at. */
  private stepDueAt: number | undefined;
  private readonly bell: ElectionDoorbell | undefined;

  constructor(private readonly deps: ElectionDeps) {
    this.bell =
      deps.doorbell &&
      new ElectionDoorbell(deps.doorbell, {
        election: deps.name,
        logger: deps.logger,
        waitMs: deps.doorbellWaitMs ?? 60_000,
        renewIntervalMs: deps.timing.renewIntervalMs,
        pollIntervalMs: deps.timing.pollIntervalMs,
        onUnheld: (ms) => this.readWithin(ms),
        setTimeout: (callback, ms) => deps.clock.setTimeout(callback, ms),
        mayWait: () => this.status === 'running' && !this.leadership,
        onRing: () => this.stepNow(),
        onDisabled: () => {
          // A standby waiting for the lease to run out must poll from now on.
          if (this.ownedTerm === undefined && !this.inFlight) this.schedule(this.deps.timing.pollIntervalMs);
        },
      });
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
      this.leadership !== undefined && this.status === 'running' && this.deps.clock.now() < this.validUntil
    );
  }

  /** The current leadership's term and abort signal, or `undefined` when not leader. */
  currentLeadership(): { term: number; signal: AbortSignal } | undefined {
    if (!this.isLeader() || !this.leadership) return undefined;
    return { term: this.leadership.term, signal: this.leadership.controller.signal };
  }

  /** A snapshot of this election's state. */
  getState(): ElectionState {
    const { clock } = this.deps;
    const leader = this.isLeader();
    return {
      election: this.deps.name,
      role: leader ? 'leader' : 'follower',
      candidateId: this.deps.candidateId,
      leaderId: this.leaderId,
      term: this.term,
      leaseExpiresAt: this.leaseEndsAtWall === null ? null : new Date(this.leaseEndsAtWall),
      lastRenewedAt: this.lastRenewedAtWall === null ? null : new Date(this.lastRenewedAtWall),
      lastContactAt: this.lastContactWall === null ? null : new Date(this.lastContactWall),
      lastContactAgoMs:
        this.lastContactMono === null ? null : Math.max(0, Math.round(clock.now() - this.lastContactMono)),
      healthy: this.lastError === null,
      lastError: this.lastError?.message ?? null,
      lastErrorKind: this.lastError?.kind ?? null,
      standbyMode: this.standbyMode,
      status: this.status,
    };
  }

  /** Starts campaigning: the first read happens at once. */
  start(): void {
    if (this.status !== 'idle') return;
    this.status = 'running';
    this.schedule(0);
  }

  /**
   * Stops acting as leader without giving the lease up yet: leadership ends for the application
   * (signal aborted, `revoked` emitted) while renewals go on, so that nobody else can start leader work
   * before the caller has drained its own. Followed by `stop()`.
   */
  beginShutdown(): void {
    if (this.status !== 'running') return;
    this.status = 'draining';
    this.endLeadership('the application is shutting down', false);
  }

  /** Stops the election for good and releases the lease when this candidate still holds it. */
  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    this.beginShutdown();
    this.status = 'stopped';
    this.clearTimers();
    await this.inFlight;
    this.endLeadership('the election was stopped', false);
    // The lease row first, then the doorbell: a standby that wakes must find the lease free.
    await this.releaseOwned();
    await this.bell?.close();
  }

  /**
   * Gives leadership up now and releases the lease so that another candidate takes over at its next
   * read; this candidate does not campaign again for one lease duration. Resolves `false` when this
   * candidate was not leader.
   */
  async resign(): Promise<boolean> {
    if (!this.isLeader()) return false;
    this.endLeadership('resigned', false);
    this.resignedUntil = this.deps.clock.now() + resignPauseMs(this.deps.timing);
    await this.inFlight;
    await this.releaseOwned();
    await this.bell?.release();
    return true;
  }

  // ---- the loop ------------------------------------------------------------------------------------

  private schedule(delayMs: number): void {
    if (this.status === 'stopped') return;
    if (this.stepTimer !== undefined) this.deps.clock.clearTimeout(this.stepTimer);
    this.stepDueAt = this.deps.clock.now() + Math.max(0, delayMs);
    this.stepTimer = this.deps.clock.setTimeout(
      () => {
        this.stepTimer = undefined;
        this.runStep();
      },
      Math.max(0, delayMs),
    );
  }

  /**
   * `delayMs`, moved to the nearest grid point when elections align their steps (at most half a grid
   * either way), so that elections that started a little apart renew and poll together.
   */
  private onGrid(delayMs: number): number {
    const grid = this.deps.alignStepsToMs;
    if (!grid) return delayMs;
    const now = this.deps.clock.now();
    const due = Math.round((now + delayMs) / grid) * grid;
    return due > now ? due - now : due + grid - now;
  }

  /** Makes sure a follower reads the row within `ms` (sooner if already planned). */
  private readWithin(ms: number): void {
    if (this.ownedTerm !== undefined || this.inFlight || this.status !== 'running') return;
    const due = this.deps.clock.now() + ms;
    if (this.stepDueAt !== undefined && this.stepDueAt <= due) return;
    this.alignedTerm = undefined;
    this.schedule(ms);
  }

  /** Runs a step as soon as possible: now, or right after the one in flight. */
  private stepNow(): void {
    if (this.inFlight) this.stepAsap = true;
    else this.schedule(0);
  }

  private runStep(): void {
    if (this.status === 'stopped' || this.inFlight) return;
    const step = this.ownedTerm !== undefined ? this.leaderStep() : this.followerStep();
    this.inFlight = step
      // Healthy again only once a whole step went through: a read that succeeds before an acquisition
      // that fails (UPDATE denied, read-only server) must neither reset the backoff nor log twice per retry.
      .then(() => this.recovered())
      .catch((error: unknown) => this.onStepError(error))
      .finally(() => {
        this.inFlight = undefined;
        if (this.stepAsap) {
          this.stepAsap = false;
          this.schedule(0);
        }
        // Every path schedules its successor; this only keeps a missed one from stalling the election.
        if (this.stepTimer === undefined) this.schedule(this.deps.timing.pollIntervalMs);
      });
  }

  /** Leader (or draining holder): renew, and learn at once when the lease is gone. */
  private async leaderStep(): Promise<void> {
    const term = this.ownedTerm as number;
    const { store, name, candidateId, timing, clock } = this.deps;
    const tSend = clock.now();
    const renewed = await store.renew(name, candidateId, term, timing.leaseDurationMs);
    this.contact();
    if (this.ownedTerm !== term) {
      // Released, or stepped down at the local deadline, while the statement ran: read afresh.
      this.schedule(0);
      return;
    }
    if (renewed) {
      this.confirmLease(term, tSend);
      this.retryDelayMs = 0;
      this.schedule(this.onGrid(timing.renewIntervalMs));
      if (this.leadership && this.bell && !this.bell.held) void this.bell.hold();
    } else {
      this.ownedTerm = undefined;
      this.endLeadership('the lease was lost (expired or taken over)', true);
      this.schedule(0);
    }
  }

  /** Follower: read the row; acquire when it has expired, else wait for the next read or its expiry. */
  private async followerStep(): Promise<void> {
    const { candidateId, timing, clock } = this.deps;
    const aligned = this.alignedTerm;
    this.alignedTerm = undefined;
    if (aligned !== undefined && clock.now() >= this.resignedUntil && this.status === 'running') {
      if (await this.tryAcquire(aligned)) return;
    }
    const row = await this.readRow();
    this.observe(row);
    const mayCampaign = this.status === 'running' && clock.now() >= this.resignedUntil;
    if (mayCampaign && (!row.valid || row.holder === candidateId)) {
      if (await this.tryAcquire(row.term)) return;
      // Lost the race: normally somebody else acquired between our read and our CAS, and one read at
      // once follows it. When reads keep calling the lease free and the CAS keeps failing, the reads
      // are stale (a replica): back off towards P instead of spinning.
      this.bell?.afterStep(row, clock.now(), false);
      this.lostRaces++;
      if (this.lostRaces >= STALE_READ_RACES && !this.staleReadsWarned) {
        this.staleReadsWarned = true;
        this.deps.logger.warn(
          `Lease reads of "${this.deps.name}" disagree with the compare-and-swap: the lease reads as free ` +
            `but ${this.lostRaces} acquisitions in a row did not match. Are SELECTs routed to a replica? ` +
            'Send lease traffic to the primary only.',
        );
      }
      this.schedule(this.lostRaces === 1 ? 0 : this.lostRaceDelay());
      return;
    }
    if (row.valid && row.holder !== candidateId) this.readsAgree();
    const remainingMs = row.remainingUs / 1000;
    if (row.valid && mayCampaign && this.bell?.active) {
      // Doorbell standby: no polling. Read again when the lease would run out (a paused leader that
      // keeps its lock never rings); right at that moment, try the CAS at once if the bell already rang.
      const recheckMs = this.bell.afterStep(row, clock.now(), false) ?? Infinity;
      if (remainingMs < recheckMs) {
        this.alignedTerm = this.bell.rungFor(row.term) ? row.term : undefined;
        this.schedule(remainingMs + 1 + this.random() * ALIGN_JITTER_MS);
      } else {
        this.schedule(recheckMs);
      }
    } else if (row.valid && mayCampaign && remainingMs < timing.pollIntervalMs) {
      this.alignedTerm = row.term;
      this.schedule(remainingMs + 1 + this.random() * ALIGN_JITTER_MS);
    } else {
      this.bell?.afterStep(row, clock.now(), false);
      this.schedule(this.onGrid(timing.pollIntervalMs));
    }
  }

  private async readRow(): Promise<LeaseRow> {
    const { store, name } = this.deps;
    if (!this.rowEnsured) {
      await this.deps.ensureSchema();
      await store.ensureRow(name);
      this.rowEnsured = true;
    }
    const row = await store.read(name);
    if (row) {
      this.contact();
      return row;
    }
    // The row was deleted under us: create it again.
    this.rowEnsured = false;
    await store.ensureRow(name);
    this.rowEnsured = true;
    const again = await store.read(name);
    if (!again) throw new LeaseStoreError('configuration', `The lease row "${name}" cannot be created.`);
    this.contact();
    return again;
  }

  private async tryAcquire(observedTerm: number): Promise<boolean> {
    const { store, name, candidateId, timing, clock } = this.deps;
    // The CAS still compares the observed term; the new one also goes above every term seen before.
    const term = Math.max(observedTerm, this.highestTerm) + 1;
    const tSend = clock.now();
    let won: boolean;
    try {
      won = await store.acquire(name, candidateId, observedTerm, timing.leaseDurationMs, term);
    } catch (error) {
      // It may have applied: never hand out this term again either.
      if (error instanceof LeaseStoreError && error.kind === 'outcome-unknown') this.seeTerm(term);
      throw error;
    }
    this.contact();
    // Lost: somebody took at least `observedTerm + 1` (unless the read was stale); never hand that out
    // either, even if the row is deleted before this candidate reads the winner's term.
    this.seeTerm(won ? term : observedTerm + 1);
    if (!won || this.status !== 'running') {
      if (won) {
        // Stopped while acquiring: hand it straight back.
        this.ownedTerm = term;
      }
      return won;
    }
    this.readsAgree();
    this.ownedTerm = term;
    this.term = term;
    this.leadership = { term, controller: new AbortController() };
    this.confirmLease(term, tSend);
    this.recovered();
    this.retryDelayMs = 0;
    this.setLeader(candidateId);
    this.emit('elected', term);
    this.deps.logger.log(`Elected leader of "${name}" (term ${term}) as ${candidateId}.`);
    this.schedule(timing.renewIntervalMs);
    void this.bell?.hold();
    return true;
  }

  /** Records a confirmed acquisition or renewal sent at `tSend`. */
  private confirmLease(term: number, tSend: number): void {
    const { timing, clock } = this.deps;
    this.validUntil = tSend + timing.leaseDurationMs - timing.safetyMarginMs;
    this.lastRenewedAtWall = clock.wallNow();
    this.leaseEndsAtWall = clock.wallNow() + (this.validUntil - clock.now()) + timing.safetyMarginMs;
    if (this.leadership?.term !== term) return;
    if (this.expiryTimer !== undefined) clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = clock.setTimeout(() => this.onValidityPassed(term), this.validUntil - clock.now());
  }

  /** The local deadline passed without a confirmed renewal: step down before anybody can take over. */
  private onValidityPassed(term: number): void {
    this.expiryTimer = undefined;
    if (this.leadership?.term !== term) return;
    if (this.deps.clock.now() < this.validUntil) {
      // Renewed in the meantime without re-arming (cannot happen, but never step down early).
      this.expiryTimer = this.deps.clock.setTimeout(
        () => this.onValidityPassed(term),
        this.validUntil - this.deps.clock.now(),
      );
      return;
    }
    this.ownedTerm = undefined;
    this.endLeadership('the lease could not be renewed before it ran out', true);
    if (!this.inFlight) this.schedule(0);
  }

  private onStepError(error: unknown): void {
    const storeError =
      error instanceof LeaseStoreError
        ? error
        : new LeaseStoreError('not-applied', error instanceof Error ? error.message : String(error));
    this.fail(storeError);
    const { timing, clock } = this.deps;
    if (storeError.kind === 'configuration') {
      this.rowEnsured = false;
    }
    if (this.leadership) {
      if (storeError.kind === 'outcome-unknown' || storeError.kind === 'configuration') {
        // We cannot know whether the renewal applied: stop acting now; a later acquisition takes a
        // new term (the CAS accepts our own stale row).
        this.ownedTerm = undefined;
        this.endLeadership(`a lease statement failed (${storeError.kind}): ${storeError.message}`, true);
        this.schedule(this.nextRetryDelay(timing.pollIntervalMs));
        return;
      }
      // Not applied or unreachable: retry with short backoff while the lease is still ours.
      const left = this.validUntil - clock.now();
      this.schedule(Math.min(this.nextRetryDelay(timing.renewIntervalMs), Math.max(0, left - 1)));
      return;
    }
    if (this.status === 'draining' && this.ownedTerm !== undefined) {
      this.schedule(this.nextRetryDelay(timing.renewIntervalMs));
      return;
    }
    const cap = storeError.kind === 'configuration' ? timing.pollIntervalMs * 5 : timing.pollIntervalMs;
    this.schedule(this.nextRetryDelay(cap));
  }

  /** After the one immediate re-read, 50 ms doubling up to P (with jitter, never above P). */
  private lostRaceDelay(): number {
    const p = this.deps.timing.pollIntervalMs;
    const base = Math.min(RETRY_BASE_MS * 2 ** (this.lostRaces - 2), p);
    return Math.min(base * (0.75 + 0.5 * this.random()), p);
  }

  /** A read or an acquisition showed the lease as it is: the run of lost races ends. */
  private readsAgree(): void {
    this.lostRaces = 0;
    if (!this.staleReadsWarned) return;
    this.staleReadsWarned = false;
    this.deps.logger.log(`Lease reads of "${this.deps.name}" agree with the compare-and-swap again.`);
  }

  private nextRetryDelay(capMs: number): number {
    this.retryDelayMs = this.retryDelayMs === 0 ? RETRY_BASE_MS : Math.min(this.retryDelayMs * 2, capMs);
    return Math.min(this.retryDelayMs, capMs) * (0.75 + 0.5 * this.random());
  }

  // ---- transitions -----------------------------------------------------------------------------------

  /** Ends the current leadership for the application: signal aborted, `revoked` emitted once. */
  private endLeadership(reason: string, unexpected: boolean): void {
    const leadership = this.leadership;
    if (!leadership) return;
    this.leadership = undefined;
    this.validUntil = -Infinity;
    if (this.expiryTimer !== undefined) {
      this.deps.clock.clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
    }
    leadership.controller.abort(new Error(`Leadership of "${this.deps.name}" ended: ${sentence(reason)}`));
    const message = `Stepped down as leader of "${this.deps.name}" (term ${leadership.term}): ${sentence(reason)}`;
    if (unexpected) {
      this.deps.logger.warn(message);
      // Wake a standby now: it reads the row and takes over as soon as the lease allows.
      void this.bell?.release();
    } else {
      this.deps.logger.log(message);
    }
    this.emit('revoked', leadership.term, reason);
  }

  private async releaseOwned(): Promise<void> {
    const term = this.ownedTerm;
    if (term === undefined) return;
    this.ownedTerm = undefined;
    const { store, name, candidateId } = this.deps;
    try {
      await store.release(name, candidateId, term);
      this.contact();
      this.leaseEndsAtWall = null;
      if (this.leaderId === candidateId) this.setLeader(null);
    } catch (error) {
      // The lease then simply runs out after L.
      this.fail(error instanceof LeaseStoreError ? error : new LeaseStoreError('not-applied', String(error)));
    }
  }

  private observe(row: LeaseRow): void {
    const { clock, candidateId } = this.deps;
    if (row.term > this.term) this.term = row.term;
    this.seeTerm(row.term);
    if (row.valid) {
      this.leaseEndsAtWall = clock.wallNow() + row.remainingUs / 1000;
      this.setLeader(row.holder === candidateId && !this.leadership ? null : row.holder);
    } else {
      this.leaseEndsAtWall = null;
      this.setLeader(null);
    }
  }

  private seeTerm(term: number): void {
    if (term > this.highestTerm) this.highestTerm = term;
  }

  private setLeader(leaderId: string | null): void {
    if (this.leaderId === leaderId) return;
    this.leaderId = leaderId;
    if (leaderId !== this.deps.candidateId) this.emit('leader-changed', this.term);
  }

  private contact(): void {
    this.lastContactMono = this.deps.clock.now();
    this.lastContactWall = this.deps.clock.wallNow();
  }

  /** A step (or an acquisition) went through: clear the failure, once. */
  private recovered(): void {
    if (this.lastError !== null) {
      this.lastError = null;
      this.retryDelayMs = 0;
      this.deps.logger.log(`Lease statements of "${this.deps.name}" succeed again.`);
      this.emit('health-changed', this.term);
    }
  }

  private fail(error: LeaseStoreError): void {
    const previous = this.lastError;
    this.lastError = error;
    if (previous?.kind === error.kind && previous.code === error.code) return;
    const hint = error.kind === 'configuration' ? ' Check the connection options, privileges and table.' : '';
    this.deps.logger.error(
      `Lease statement of "${this.deps.name}" failed (${describeKind(error.kind)}): ${sentence(error.message)}${hint}`,
    );
    this.emit('health-changed', this.term);
  }

  private emit(type: ElectionEventType, term: number, reason?: string): void {
    try {
      this.deps.onEvent({ type, election: this.deps.name, term, reason, state: this.getState() });
    } catch (error) {
      this.deps.logger.error(`A leadership listener of "${this.deps.name}" threw: ${String(error)}`);
    }
  }

  private clearTimers(): void {
    const { clock } = this.deps;
    if (this.stepTimer !== undefined) clock.clearTimeout(this.stepTimer);
    if (this.expiryTimer !== undefined) clock.clearTimeout(this.expiryTimer);
    this.stepTimer = undefined;
    this.expiryTimer = undefined;
  }

  private random(): number {
    return (this.deps.random ?? Math.random)();
  }
}

/** Ends a clause with exactly one period. */
function sentence(text: string): string {
  return text.endsWith('.') ? text : `${text}.`;
}

function describeKind(kind: LeaseErrorKind): string {
  switch (kind) {
    case 'configuration':
      return 'configuration: credentials, privileges, database or table';
    case 'unreachable':
      return 'database unreachable';
    case 'outcome-unknown':
      return 'outcome unknown';
    case 'not-applied':
      return 'not applied, will retry';
  }
}
