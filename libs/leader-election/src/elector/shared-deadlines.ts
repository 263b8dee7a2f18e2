import type { Clock, TimerHandle } from './clock';

/** A callback planned in `SharedDeadlines` (the handle to remove it with). */
export interface Deadline {
  /** Monotonic time it is due at. */
  readonly at: number;
  readonly callback: () => void;
}

/**
 * Callbacks due at the very same monotonic time share one clock timer. The leases that one round renewed
 * end their local validity together (`t_send + L - M`, one `t_send` for all of them): a process leading
 * 1,000 elections then arms one timer per round for their deadlines instead of 1,000.
 */
export class SharedDeadlines {
  private readonly due = new Map<number, { deadlines: Set<Deadline>; timer: TimerHandle }>();

  constructor(private readonly clock: Clock) {}

  /** Calls `callback` once the clock's timer for monotonic time `at` fires. */
  add(at: number, callback: () => void): Deadline {
    const deadline: Deadline = { at, callback };
    let group = this.due.get(at);
    if (!group) {
      group = {
        deadlines: new Set(),
        timer: this.clock.setTimeout(() => this.fire(at), Math.max(0, at - this.clock.now())),
      };
      this.due.set(at, group);
    }
    group.deadlines.add(deadline);
    return deadline;
  }

  /** Takes `deadline` out; its group's timer goes with the last one. */
  remove(deadline: Deadline): void {
    const group = this.due.get(deadline.at);
    if (!group?.deadlines.delete(deadline) || group.deadlines.size > 0) return;
    this.clock.clearTimeout(group.timer);
    this.due.delete(deadline.at);
  }

  /** Timers armed (for tests). */
  get timers(): number {
    return this.due.size;
  }

  private fire(at: number): void {
    const group = this.due.get(at);
    if (!group) return;
    this.due.delete(at);
    // Every election steps down at its deadline, even when another's callback throws.
    let failed = false;
    let failure: unknown;
    for (const deadline of group.deadlines) {
      try {
        deadline.callback();
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
    if (failed) throw failure;
  }
}
