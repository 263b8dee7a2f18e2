import type { Clock, TimerHandle } from './clock';

/** What the step loop needs from its election. */
export interface StepLoopDeps {
  readonly clock: Clock;
  /** See `ElectionDeps.alignStepsToMs`. */
  readonly alignStepsToMs?: number;
  /** P: the step planned when a path forgot to plan one. */
  readonly pollIntervalMs: number;
  /** No step runs or is planned once the election stopped. */
  readonly stopped: () => boolean;
  /** The step to run now (the leader's or the follower's). */
  readonly step: () => Promise<void>;
  /** A whole step went through. */
  readonly onSuccess: () => void;
  /** A step threw. */
  readonly onError: (error: unknown) => void;
}

/**
 * The timer loop of one election: one step planned at a time, at most one in flight, every step planning
 * its successor.
 */
export class StepLoop {
  private timer: TimerHandle | undefined;
  /** Monotonic time the planned step is due at. */
  private dueAt: number | undefined;
  private running: Promise<void> | undefined;
  /** A step was asked for while another was in flight: run it right after. */
  private asap = false;

  constructor(private readonly deps: StepLoopDeps) {}

  /** The step in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.running;
  }

  /** Whether the planned step is due by monotonic time `t`. */
  dueBy(t: number): boolean {
    return this.dueAt !== undefined && this.dueAt <= t;
  }

  /** Plans the next step in `delayMs`, replacing the one planned. */
  schedule(delayMs: number): void {
    if (this.deps.stopped()) return;
    const { clock } = this.deps;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.dueAt = clock.now() + Math.max(0, delayMs);
    this.timer = clock.setTimeout(
      () => {
        this.timer = undefined;
        this.run();
      },
      Math.max(0, delayMs),
    );
  }

  /**
   * `delayMs`, moved to the nearest grid point when elections align their steps (at most half a grid
   * either way), so that elections that started a little apart renew and poll together.
   */
  onGrid(delayMs: number): number {
    const grid = this.deps.alignStepsToMs;
    if (!grid) return delayMs;
    const now = this.deps.clock.now();
    const due = Math.round((now + delayMs) / grid) * grid;
    return due > now ? due - now : due + grid - now;
  }

  /**
   * Runs a step now, in this turn of the event loop (a doorbell ring: not even a 0 ms timer, which
   * costs a millisecond or more), or right after the one in flight.
   */
  stepNow(): void {
    if (this.running) {
      this.asap = true;
      return;
    }
    this.cancel();
    this.run();
  }

  /** Cancels the planned step. */
  cancel(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
  }

  private run(): void {
    if (this.deps.stopped() || this.running) return;
    this.running = this.deps
      .step()
      // Healthy again only once a whole step went through: a read that succeeds before an acquisition
      // that fails (UPDATE denied, read-only server) must neither reset the backoff nor log twice per retry.
      .then(() => this.deps.onSuccess())
      .catch((error: unknown) => this.deps.onError(error))
      .finally(() => {
        this.running = undefined;
        if (this.asap) {
          this.asap = false;
          this.stepNow();
          return;
        }
        // Every path schedules its successor; this only keeps a missed one from stalling the election.
        if (this.timer === undefined) this.schedule(this.deps.pollIntervalMs);
      });
  }
}
