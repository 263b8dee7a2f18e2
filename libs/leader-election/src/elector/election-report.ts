import type { LeaseStoreError } from '../store/lease-store';
import type { ElectionDeps, ElectionTerms } from './election-context';
import { failureMessage } from './election-errors';
import { transitionReason } from './election-metrics';
import type { ElectionEventType, ElectionState } from './election-state';

/** What this candidate last learned of the lease and the database, as `getState()` reports it. */
interface ElectionRecord {
  leaderId: string | null;
  leaseEndsAtWall: number | null;
  lastRenewedAtWall: number | null;
  lastContactMono: number | null;
  lastContactWall: number | null;
  lastError: LeaseStoreError | null;
}

/** The live parts of the election a report reads. */
export interface ReportedElection {
  readonly terms: ElectionTerms;
  isLeader(): boolean;
  standbyMode(): ElectionState['standbyMode'];
  status(): ElectionState['status'];
}

/**
 * What one election tells the outside: its state snapshot, its events (once per transition) and its
 * health (one log line when statements start failing, one when they succeed again).
 */
export class ElectionReport {
  readonly record: ElectionRecord = {
    leaderId: null,
    leaseEndsAtWall: null,
    lastRenewedAtWall: null,
    lastContactMono: null,
    lastContactWall: null,
    lastError: null,
  };
  /** Leaderless time of the stretches that ended, and the monotonic start of the current one. */
  private leaderlessEndedMs = 0;
  private leaderlessSince: number | null = null;

  constructor(
    private readonly deps: ElectionDeps,
    private readonly election: ReportedElection,
  ) {}

  /** A snapshot of the election's state. */
  snapshot(): ElectionState {
    const { clock } = this.deps;
    const { record } = this;
    const date = (wall: number | null) => (wall === null ? null : new Date(wall));
    return {
      election: this.deps.name,
      role: this.election.isLeader() ? 'leader' : 'follower',
      candidateId: this.deps.candidateId,
      leaderId: record.leaderId,
      term: this.election.terms.seen,
      leaseExpiresAt: date(record.leaseEndsAtWall),
      lastRenewedAt: date(record.lastRenewedAtWall),
      lastContactAt: date(record.lastContactWall),
      lastContactAgoMs:
        record.lastContactMono === null
          ? null
          : Math.max(0, Math.round(clock.now() - record.lastContactMono)),
      healthy: record.lastError === null,
      lastError: record.lastError?.message ?? null,
      lastErrorKind: record.lastError?.kind ?? null,
      standbyMode: this.election.standbyMode(),
      status: this.election.status(),
    };
  }

  /** A lease statement succeeded now. */
  contact(): void {
    this.record.lastContactMono = this.deps.clock.now();
    this.record.lastContactWall = this.deps.clock.wallNow();
  }

  /** The leader as last learned; `leader-changed` when it is somebody else than before. */
  setLeader(leaderId: string | null): void {
    this.trackLeaderless(leaderId === null);
    if (this.record.leaderId === leaderId) return;
    this.record.leaderId = leaderId;
    if (leaderId !== this.deps.candidateId) this.emit('leader-changed', this.election.terms.seen);
  }

  /**
   * A doorbell rang: the leader let go of its lock (a release, or its process or connection ended).
   * Leaderless as this candidate sees it from now until a read or its own acquisition names a leader;
   * the leader as last learned stays (a ring after a crash is followed by a read that still shows it).
   */
  leaderGone(): void {
    this.trackLeaderless(true);
  }

  /** A step (or an acquisition) went through: clear the failure, once. True when there was one. */
  recovered(): boolean {
    if (this.record.lastError === null) return false;
    this.record.lastError = null;
    this.deps.logger.log(`Lease statements of "${this.deps.name}" succeed again.`);
    this.emit('health-changed', this.election.terms.seen);
    return true;
  }

  /** A statement failed: logged and emitted once per change of kind and code. */
  fail(error: LeaseStoreError): void {
    this.deps.metrics?.statementFailed(this.deps.name, error.kind);
    const previous = this.record.lastError;
    this.record.lastError = error;
    if (previous?.kind === error.kind && previous.code === error.code) return;
    this.deps.logger.error(failureMessage(this.deps.name, error));
    this.emit('health-changed', this.election.terms.seen);
  }

  /** Tells the listener of one transition; a listener that throws is logged, never breaks the election. */
  emit(type: ElectionEventType, term: number, reason?: string): void {
    if (type === 'elected') this.deps.metrics?.transition(this.deps.name, 'elected');
    if (type === 'revoked') this.deps.metrics?.transition(this.deps.name, transitionReason(reason));
    try {
      this.deps.onEvent({ type, election: this.deps.name, term, reason, state: this.snapshot() });
    } catch (error) {
      this.deps.logger.error(`A leadership listener of "${this.deps.name}" threw: ${String(error)}`);
    }
  }

  /** Milliseconds in all during which this candidate's reads showed no valid lease, the current stretch included. */
  leaderlessMs(): number {
    const current = this.leaderlessSince === null ? 0 : this.deps.clock.now() - this.leaderlessSince;
    return this.leaderlessEndedMs + current;
  }

  /** Opens a leaderless stretch at the first read without a leader; closes it when a leader is seen. */
  private trackLeaderless(leaderless: boolean): void {
    if (leaderless === (this.leaderlessSince !== null)) return;
    const now = this.deps.clock.now();
    if (leaderless) {
      this.leaderlessSince = now;
      return;
    }
    const ms = now - (this.leaderlessSince as number);
    this.leaderlessSince = null;
    this.leaderlessEndedMs += ms;
    this.deps.metrics?.leaderlessEnded(this.deps.name, ms);
  }
}
