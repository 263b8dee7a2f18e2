import type { StepHost } from './election-step-host';

/**
 * The leader's step (also run by a draining holder): renew every R, and learn at once when the lease
 * is gone. Its belief ends at `t_send + L - M` on the monotonic clock, `t_send` taken before the
 * statement that confirmed the lease; a timer steps down at that moment when no renewal came.
 */
export class LeaderStep {
  constructor(private readonly host: StepHost) {}

  async run(): Promise<void> {
    const term = this.host.terms.owned as number;
    const { store, name, candidateId, timing, clock } = this.host.deps;
    const tSend = clock.now();
    const renewed = await store.renew(name, candidateId, term, timing.leaseDurationMs);
    this.afterRenewal(term, tSend, renewed);
  }

  /** The renewal of `term` sent at `tSend` was answered (alone, or in the process's round). */
  afterRenewal(term: number, tSend: number, renewed: boolean): void {
    const { host } = this;
    const { name, timing, clock } = host.deps;
    host.report.contact();
    if (host.deps.metrics) {
      // Before confirmLease moves it: how much of the previous local validity was left.
      const held = host.held();
      const margin = renewed && held?.term === term ? held.validUntil - clock.now() : undefined;
      host.deps.metrics.renewal(name, clock.now() - tSend, margin);
    }
    if (host.terms.owned !== term) {
      // Released, or stepped down at the local deadline, while the statement ran: read afresh.
      host.loop.schedule(0);
      return;
    }
    if (renewed) {
      this.confirmLease(term, tSend);
      host.backoff.reset();
      host.loop.scheduleOnGrid(timing.renewIntervalMs);
      if (host.held() && host.bell && !host.bell.held) void host.bell.hold();
    } else {
      host.terms.owned = undefined;
      host.endLeadership('the lease was lost (expired, taken over, or asked for by another candidate)', true);
      host.loop.schedule(0);
    }
  }

  /** Records a confirmed acquisition or renewal of `term` sent at `tSend`. */
  confirmLease(term: number, tSend: number): void {
    const { timing, clock } = this.host.deps;
    const validUntil = tSend + timing.leaseDurationMs - timing.safetyMarginMs;
    // One reading of each clock (a process in 1,000 elections does this 1,000 times per round).
    const wall = clock.wallNow();
    this.host.report.record.lastRenewedAtWall = wall;
    this.host.report.record.leaseEndsAtWall = wall + (validUntil - clock.now()) + timing.safetyMarginMs;
    const held = this.host.held();
    if (held?.term !== term) return;
    held.validUntil = validUntil;
    // The deadline only moves later while the term is held: a deadline already planned fires at the old
    // time and plans the new one, instead of being removed and added again at every renewal.
    held.expiry ??= this.host.deadlines.add(validUntil, () => this.onValidityPassed(term));
  }

  /** The local deadline passed without a confirmed renewal: step down before anybody can take over. */
  private onValidityPassed(term: number): void {
    const { host } = this;
    const { clock } = host.deps;
    const held = host.held();
    if (held?.term !== term) return;
    held.expiry = undefined;
    if (clock.now() < held.validUntil) {
      // Renewed since the deadline was planned (or the timer fired early): wait for it as it is now.
      held.expiry = host.deadlines.add(held.validUntil, () => this.onValidityPassed(term));
      return;
    }
    host.terms.owned = undefined;
    host.endLeadership('the lease could not be renewed before it ran out', true);
    if (!host.loop.inFlight) host.loop.schedule(0);
  }
}
