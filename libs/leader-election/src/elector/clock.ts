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

/** The process's real clock: `performance.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
