import type { LeaseDoorbell, LeaseRow } from '../store/lease-store';
import { LeaseStoreError } from '../store/lease-store';
import type { ElectorLogger } from './election-state';
import { traceStep } from './election-trace';

/** After a transient failure, the doorbell is tried again after P, doubling up to this many P. */
const MAX_SUSPEND_POLLS = 4;
/** A later expiry than this after a ring means the leader renewed: it is alive, only its lock was lost. */
const RENEWED_SLACK_MS = 50;
/** After this candidate freed the lock itself, the first look for the successor's lock; doubles. */
const SUCCESSOR_LOOK_MS = 10;

/** What the doorbell needs from its election. */
export interface ElectionDoorbellDeps {
  readonly election: string;
  readonly logger: ElectorLogger;
  /** How long one wait may block before it is sent again. */
  readonly waitMs: number;
  /** R: a live leader renews (and takes the lock back) within this long. */
  readonly renewIntervalMs: number;
  readonly setTimeout: (callback: () => void, ms: number) => unknown;
  /** Whether this candidate is a follower that should listen now. */
  readonly mayWait: () => boolean;
  /** The lock was won as a follower: read the row now. */
  readonly onRing: () => void;
  /** The doorbell fell back to polling (for good or for a while): standbys must start polling now. */
  readonly onDisabled: () => void;
  /**
   * Nothing would ring (nobody held the lock, or the wait failed for a while): read the row within `ms`
   * (the lock may just have been freed), which arms the doorbell again.
   */
  readonly onUnheld: (ms: number) => void;
  /** P: the longest a standby goes without a read when no lock can ring it. */
  readonly pollIntervalMs: number;
  /** This candidate's id: a ring meant for a handover to another candidate is passed on. */
  readonly candidateId?: string;
}

/**
 * The doorbell of one election (issue: instant graceful handover). The leader holds a named lock; each
 * standby blocks on it with one long `GET_LOCK`. A graceful release frees the lease row and then the lock,
 * and a dead leader's session frees it too: one standby wakes at once and reads the row. A standby that
 * wins the lock keeps it while it waits for the old lease to run out (crash), becomes leader with the
 * lock in hand, and gives it back as soon as it sees another leader or a leader that is still renewing.
 * Correctness never depends on any of this: the lease row alone decides.
 */
export class ElectionDoorbell {
  private waiting = false;
  /** Why the doorbell is off for good (configuration, Galera). */
  private disabledReason: string | undefined;
  /** Why the doorbell is off for a while after a transient failure; it is tried again after a backoff. */
  private suspendedReason: string | undefined;
  /** The last suspension's length; 0 once a named-lock statement succeeded again. */
  private suspendMs = 0;
  /** The "off" line was logged and the "works again" line not yet. */
  private offLogged = false;
  /** Term the lock was won for as a standby, once the first read after the ring has named it. */
  private rungTerm: number | undefined;
  private rungExpiry = -Infinity;
  /** After giving the lock back to a live leader, wait until it has taken it again. */
  private armTimer = false;
  /** Consecutive waits that found nobody holding the lock. */
  private unheldStreak = 0;
  /** This candidate freed the lock itself a moment ago: its successor takes it within a few round trips. */
  private successorSoon = false;
  /** The handover (`term:to`) for which this standby passed the ring on once already. */
  private passedOn: string | undefined;
  /**
   * A `GET_LOCK(name, 0)` in flight. Never send a second one meanwhile: `GET_LOCK` is recursive, and a
   * session that took the lock twice keeps it after one `RELEASE_LOCK`, so a release would ring nobody.
   */
  private holding: Promise<void> | undefined;

  constructor(
    private readonly bell: LeaseDoorbell,
    private readonly deps: ElectionDoorbellDeps,
  ) {}

  /** False while the doorbell is off (for good, or for a while after a transient failure). */
  get active(): boolean {
    return this.disabledReason === undefined && this.suspendedReason === undefined;
  }

  /** True while this session holds the named lock. */
  get held(): boolean {
    return this.bell.held;
  }

  /** True when the lock was won as a standby for `term`: the old leader is presumably gone. */
  rungFor(term: number): boolean {
    return this.bell.held && this.rungTerm === term;
  }

  /** Leader: make sure the lock is held, so that standbys can be woken. A pending wait delivers it. */
  async hold(): Promise<void> {
    if (!this.active || this.bell.held || this.waiting || this.holding) return;
    this.holding = this.bell
      .hold()
      .then(
        () => this.worked(),
        (error: unknown) => this.onError(error),
      )
      .finally(() => {
        this.holding = undefined;
      });
    await this.holding;
  }

  /** The leader's GET_LOCK while it is in flight: wait for it before using `lockInHand`. */
  get pendingHold(): Promise<void> | undefined {
    return this.holding;
  }

  /**
   * The lock, for a release of the lease row that frees it in the same statement (`LeaseStore.release`),
   * when this session holds it and no GET_LOCK is in flight; `undefined` otherwise.
   */
  get lockInHand(): LeaseDoorbell | undefined {
    return this.active && !this.holding && this.bell.held ? this.bell : undefined;
  }

  /** Frees the lock (after a release of the lease row, or on a step-down). */
  async release(): Promise<void> {
    this.rungTerm = undefined;
    // A GET_LOCK still in flight would take the lock after this release: let it land first.
    if (this.holding) await this.holding;
    if (!this.bell.held) return;
    await this.bell.release().catch(() => undefined); // a failed release drops the session, and the lock
  }

  /**
   * After every follower step: give the lock back when another leader exists or the old one is alive,
   * keep it while the old lease runs out, and otherwise keep a wait armed. Returns how soon the row
   * should be read again to tell a dead leader from a live one that lost its lock, if sooner than usual.
   */
  afterStep(row: LeaseRow, now: number): number | undefined {
    if (!this.active) return undefined;
    const to = row.handoverTo ?? '';
    if (this.bell.held && row.valid && to !== '' && to !== this.deps.candidateId) {
      const key = `${row.term}:${to}`;
      if (this.passedOn !== key) {
        // A handover to another candidate: the ring is meant for it. Pass the lock on to the next
        // waiter (once per handover: with the target gone, the last one rung keeps it) and listen again.
        this.passedOn = key;
        this.rungTerm = undefined;
        void this.release().then(() => this.arm());
        return undefined;
      }
    }
    if (this.bell.held) {
      const expiry = now + row.remainingUs / 1000;
      if (this.rungTerm === undefined && row.valid) {
        // Rung while the lease is valid: a crash, or a live leader whose lock is not (yet) taken.
        // Keep the lock; one read after R tells which.
        this.rungTerm = row.term;
        this.rungExpiry = expiry;
        return this.deps.renewIntervalMs + RENEWED_SLACK_MS;
      }
      const renewed = row.valid && row.term === this.rungTerm && expiry > this.rungExpiry + RENEWED_SLACK_MS;
      if (!row.valid || row.term !== this.rungTerm || renewed) {
        void this.release();
        // Another leader, or the same one alive: it takes the lock at its next renewal; listen after that.
        this.armLater(this.deps.renewIntervalMs + RENEWED_SLACK_MS);
      }
      return undefined;
    }
    if (!this.armTimer) this.arm();
    return undefined;
  }

  /**
   * This candidate gave the lease up (resign): it listens again as soon as the successor holds the lock,
   * looking 10 ms after its next read and doubling, instead of after the successor's next renewal.
   */
  expectSuccessor(): void {
    this.successorSoon = true;
    this.unheldStreak = 0;
  }

  /** Stops listening, frees the lock and closes the connection. */
  async close(): Promise<void> {
    this.rungTerm = undefined;
    await this.bell.close().catch(() => undefined);
  }

  /** Falls back to polling for good, with one log line saying why. */
  disable(reason: string): void {
    if (this.disabledReason !== undefined) return;
    this.disabledReason = reason;
    this.deps.logger.warn(
      `Doorbell of "${this.deps.election}" unavailable (${reason}); standbys poll the lease instead.`,
    );
    void this.close();
    this.deps.onDisabled();
  }

  /**
   * Falls back to polling for a while after a transient failure (a killed query, a statement timeout),
   * then listens again: after P, doubling up to a few P while the tries fail. One line when it goes
   * off, one when it works again; none per failed try.
   */
  private suspend(reason: string): void {
    if (!this.active) return;
    const p = this.deps.pollIntervalMs;
    this.suspendMs = this.suspendMs === 0 ? p : Math.min(this.suspendMs * 2, MAX_SUSPEND_POLLS * p);
    this.suspendedReason = reason;
    if (!this.offLogged) {
      this.offLogged = true;
      this.deps.logger.warn(
        `Doorbell of "${this.deps.election}" off for now (${reason}); standbys poll the lease and the ` +
          'doorbell is tried again shortly.',
      );
    }
    this.deps.setTimeout(() => {
      // The next follower step arms a wait; the leader takes the lock at its next renewal.
      this.suspendedReason = undefined;
    }, this.suspendMs);
    this.deps.onDisabled();
  }

  /** A named-lock statement went through: the doorbell works (again). */
  private worked(): void {
    this.suspendMs = 0;
    if (!this.offLogged || !this.active) return;
    this.offLogged = false;
    this.deps.logger.log(`Doorbell of "${this.deps.election}" works again; standbys wait on it.`);
  }

  private armLater(ms: number): void {
    if (this.armTimer) return;
    this.armTimer = true;
    this.deps.setTimeout(() => {
      this.armTimer = false;
      this.arm();
    }, ms);
  }

  private arm(): void {
    if (!this.active || this.waiting || this.bell.held || !this.deps.mayWait()) return;
    this.waiting = true;
    this.bell.wait(this.deps.waitMs).then(
      (outcome) => {
        this.waiting = false;
        this.worked();
        if (outcome === 'rung') {
          traceStep(this.deps.election, 'rung');
          this.unheldStreak = 0;
          this.successorSoon = false;
          this.rungTerm = undefined;
          this.deps.onRing();
        } else if (outcome === 'timeout') {
          this.unheldStreak = 0;
          this.successorSoon = false;
          this.arm();
        } else {
          this.deps.onUnheld(this.nextUnheldMs());
        }
      },
      (error: unknown) => {
        this.waiting = false;
        this.onError(error);
      },
    );
  }

  /**
   * A wait found nobody holding the lock: just released (read soon), not taken yet by a new leader, or a
   * leader that does not use one. Read after its next renewal, backing off to P; the read re-arms. Right
   * after this candidate's own release the successor takes the lock within a few round trips: look
   * after 10 ms, doubling, until that is as long as the usual wait.
   */
  private nextUnheldMs(): number {
    const usual = this.deps.renewIntervalMs + RENEWED_SLACK_MS;
    if (this.successorSoon) {
      const ms = SUCCESSOR_LOOK_MS * 2 ** this.unheldStreak;
      if (ms < usual) {
        this.unheldStreak++;
        return ms;
      }
      this.successorSoon = false;
      this.unheldStreak = 0;
    }
    const ms = Math.min(usual * 2 ** this.unheldStreak, this.deps.pollIntervalMs);
    this.unheldStreak++;
    return ms;
  }

  private onError(error: unknown): void {
    const kind = error instanceof LeaseStoreError ? error.kind : 'not-applied';
    if (!this.active) return;
    if (kind === 'unreachable' || kind === 'outcome-unknown') {
      // The database being away is the election's business (it sees it too). The next read re-arms:
      // make it come within P, so that a graceful handover never waits longer than polling would.
      this.deps.onUnheld(this.deps.pollIntervalMs);
      return;
    }
    const reason = `GET_LOCK failed: ${error instanceof Error ? error.message : String(error)}`;
    // Privileges and the like will not fix themselves; a killed query or a statement timeout may.
    if (kind === 'configuration') this.disable(reason);
    else this.suspend(reason);
  }
}
