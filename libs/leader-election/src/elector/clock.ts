import { performance } from 'node:perf_hooks';

/** Opaque handle of a scheduled callback. */
export type TimerHandle = unknown;

/**
 * Time as the elector sees it. `now()` is monotonic and alone decides whether this process may act as
 * leader; `wallNow()` only labels state for humans. Injectable so that timing logic is tested with a
 * fake clock instead of sleeps.
 */
export interface Clock {
  /** Monotonic milliseconds; never jumps with the wall clock. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for display only. */
  wallNow(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * A delay in whole milliseconds, rounded up. Node keeps a fractional delay as it is but arms the event
 * loop's timer in whole milliseconds, rounded down: the loop wakes a fraction early, finds the timer not
 * due, and sleeps again for one more millisecond. Deadlines computed from `performance.now()` are
 * fractional: rounded up, the timer fires in one wake (and at most a millisecond later, which only a
 * timer that need not be punctual can be: leadership itself is checked against the clock at each call).
 */
export function timerDelay(ms: number): number {
  return Math.max(0, Math.ceil(ms));
}

/** The process's real clock: `performance.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, timerDelay(ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
