import type { Clock, TimerHandle } from './clock';
import type { RoundJob, RoundMember, RoundOutcome, StepRound } from './step-round';

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
  /**
   * Where given (with `alignStepsToMs`), steps planned on the grid join the process's round instead of
   * a timer of their own: `name` is the election, `roundJob` says what it does in the round now (or
   * `undefined`: its own step), and `afterRound` is the rest of the step once the round's statement
   * answered (synchronous where it can be; a promise when it has to send a statement of its own).
   */
  readonly round?: {
    readonly rounds: StepRound;
    readonly name: string;
    readonly job: () => RoundJob | undefined;
    readonly after: (outcome: RoundOutcome) => Promise<void> | void;
  };
}

/**
 * The timer loop of one election: one step planned at a time, at most one in flight, every step planning
 * its successor.
 */
export class StepLoop implements RoundMember {
  private timer: TimerHandle | undefined;
  /** The grid point of the round this loop's next step is planned in, if any. */
  private roundAt: number | undefined;
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
    this.cancel();
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
   * Plans a regular step (a renewal, a poll) in `delayMs`, moved to the nearest grid point when
   * elections align their steps (at most half a grid either way), so that elections that started a
   * little apart renew and poll together: in the process's round where there is one.
   */
  scheduleOnGrid(delayMs: number): void {
    const grid = this.deps.alignStepsToMs;
    if (!grid) {
      this.schedule(delayMs);
      return;
    }
    const now = this.deps.clock.now();
    let at = Math.round((now + delayMs) / grid) * grid;
    if (at <= now) at += grid;
    const { round } = this.deps;
    if (!round) {
      this.schedule(at - now);
      return;
    }
    if (this.deps.stopped()) return;
    this.cancel();
    this.dueAt = at;
    this.roundAt = at;
    round.rounds.add(this, at);
  }

  /** @internal RoundMember: the election's name. */
  get name(): string {
    return this.deps.round?.name ?? '';
  }

  /** @internal RoundMember: the round this loop was planned in fell due. */
  roundDue(done: Promise<void>): RoundJob | undefined {
    this.roundAt = undefined;
    this.dueAt = undefined;
    if (this.deps.stopped() || this.running) return undefined;
    const job = this.deps.round?.job();
    if (!job) {
      this.run();
      return undefined;
    }
    this.running = done;
    return job;
  }

  /** @internal RoundMember: the round's statement answered; the rest of the step runs now. */
  settle(outcome: RoundOutcome): void {
    let rest: Promise<void> | void;
    try {
      rest = this.deps.round!.after(outcome);
    } catch (error) {
      rest = Promise.reject(error);
    }
    if (rest) {
      this.running = undefined;
      this.track(rest);
      return;
    }
    this.running = undefined;
    this.deps.onSuccess();
    this.afterStep();
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
    if (this.roundAt !== undefined) this.deps.round?.rounds.remove(this, this.roundAt);
    this.timer = undefined;
    this.roundAt = undefined;
    this.dueAt = undefined;
  }

  private run(): void {
    if (this.deps.stopped() || this.running) return;
    this.track(this.deps.step());
  }

  /** Makes `step` the step in flight, and plans its successor when it is done. */
  private track(step: Promise<void>): void {
    this.running = step
      // Healthy again only once a whole step went through: a read that succeeds before an acquisition
      // that fails (UPDATE denied, read-only server) must neither reset the backoff nor log twice per retry.
      .then(() => this.deps.onSuccess())
      .catch((error: unknown) => this.deps.onError(error))
      .finally(() => {
        this.running = undefined;
        this.afterStep();
      });
  }

  private afterStep(): void {
    if (this.asap) {
      this.asap = false;
      this.stepNow();
      return;
    }
    // Every path schedules its successor; this only keeps a missed one from stalling the election.
    if (this.timer === undefined && this.roundAt === undefined) this.schedule(this.deps.pollIntervalMs);
  }
}
