import type { Clock, TimerHandle } from '../src/elector/clock';

interface FakeTimer {
  readonly id: number;
  /** Fake time at which it is due. */
  readonly at: number;
  /** Scheduling order, so that timers due at the same instant fire first-scheduled first. */
  readonly seq: number;
  readonly callback: () => void;
  /** The process view that scheduled it (0 for the clock itself). */
  readonly owner: number;
}

/** How one simulated process sees time, relative to the test's fake time. */
export interface FakeProcessOptions {
  /** Added to `now()`: every process's monotonic clock has its own origin. */
  readonly monotonicOffsetMs?: number;
  /** Added to `wallNow()`: a host whose wall clock is off by this much. */
  readonly wallOffsetMs?: number;
}

/** Resolves once every promise reaction queued so far, and those they queue in turn, has run. */
function flushMicrotasks(): Promise<void> {
  // setImmediate runs after the microtask queue is drained completely, however long its chains are.
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A `Clock` for tests: time moves only when the test says so.
 *
 * - `advance(ms)` fires due timers in time order (first-scheduled first among equals), setting `now()` to
 *   each timer's due time, and drains promise reactions after each one, so that async steps started by a
 *   timer (and fake-latency statements) complete before the next timer runs.
 * - `jump(ms)` moves time without firing anything: what a process sees when it wakes from a pause, before
 *   its event loop gets to run a timer. `firedCount` lets a test prove that no timer ran.
 * - `process()` gives a view of the same timeline for another simulated process (own monotonic origin,
 *   skewed wall clock) that can be paused (SIGSTOP, or a crash when never resumed).
 */
export class FakeClock implements Clock {
  /** Number of timer callbacks run so far. */
  firedCount = 0;
  private current: number;
  private readonly wallOrigin: number;
  private readonly timers = new Map<number, FakeTimer>();
  private readonly paused = new Set<number>();
  private nextId = 1;
  private nextSeq = 1;
  private nextOwner = 1;
  private readonly timerObservers = new Set<() => void>();

  /**
   * @param startMs the monotonic time the test starts at
   * @param wallOriginMs the wall-clock time (epoch ms) that corresponds to monotonic 0
   */
  constructor(startMs = 0, wallOriginMs = Date.UTC(2026, 0, 1)) {
    this.current = startMs;
    this.wallOrigin = wallOriginMs;
  }

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.wallOrigin + this.current;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.schedule(callback, ms, 0);
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Timers scheduled and neither fired nor cleared. */
  get pendingCount(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer that may fire, or `undefined`. */
  nextDueAt(): number | undefined {
    return this.nextRunnable(Infinity)?.at;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in time order. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
    const target = this.current + ms;
    await flushMicrotasks();
    let fired = 0;
    for (;;) {
      const timer = this.nextRunnable(target);
      if (!timer) break;
      if (++fired > 100_000)
        throw new Error('FakeClock: more than 100000 timers in one advance(); a busy loop?');
      this.timers.delete(timer.id);
      // A timer made overdue by jump() fires at the current time: time never runs backwards.
      this.current = Math.max(this.current, timer.at);
      this.firedCount++;
      timer.callback();
      await flushMicrotasks();
      this.timerObservers.forEach((observer) => observer());
    }
    this.current = target;
    await flushMicrotasks();
  }

  /**
   * Calls `observer` after every timer this clock fires (once the reactions it started have run), so
   * that an invariant is checked at every instant anything happens, however the test moves time.
   * Returns its removal.
   */
  afterEachTimer(observer: () => void): () => void {
    this.timerObservers.add(observer);
    return () => this.timerObservers.delete(observer);
  }

  /** Advances to the absolute monotonic time `t` (no-op when already past it). */
  async advanceTo(t: number): Promise<void> {
    await this.advance(Math.max(0, t - this.current));
  }

  /** Moves time forward by `ms` WITHOUT firing any timer; overdue ones fire at the next `advance()`. */
  jump(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`jump(${ms}): time only moves forward`);
    this.current += ms;
  }

  /** A view of this timeline as another process sees it; see `FakeProcessClock`. */
  process(options: FakeProcessOptions = {}): FakeProcessClock {
    return new FakeProcessClock(this, this.nextOwner++, options);
  }

  /** @internal used by `FakeProcessClock` */
  schedule(callback: () => void, ms: number, owner: number): TimerHandle {
    const id = this.nextId++;
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    this.timers.set(id, { id, at: this.current + delay, seq: this.nextSeq++, callback, owner });
    return id;
  }

  /** @internal used by `FakeProcessClock` */
  setPaused(owner: number, paused: boolean): void {
    if (paused) this.paused.add(owner);
    else this.paused.delete(owner);
  }

  /** @internal used by `FakeProcessClock` */
  pendingCountOf(owner: number): number {
    return [...this.timers.values()].filter((timer) => timer.owner === owner).length;
  }

  private nextRunnable(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.timers.values()) {
      if (timer.at > limit || this.paused.has(timer.owner)) continue;
      if (!best || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq)) best = timer;
    }
    return best;
  }
}

/**
 * One simulated process on a `FakeClock`'s timeline: its monotonic clock has its own origin, its wall clock
 * may be skewed, and it can be paused: while paused none of its timers fire (a stopped or crashed process);
 * on `resume()` the overdue ones fire at the next `advance()`.
 */
export class FakeProcessClock implements Clock {
  private readonly monotonicOffset: number;
  private readonly wallOffset: number;

  constructor(
    private readonly base: FakeClock,
    private readonly owner: number,
    options: FakeProcessOptions,
  ) {
    this.monotonicOffset = options.monotonicOffsetMs ?? 0;
    this.wallOffset = options.wallOffsetMs ?? 0;
  }

  now(): number {
    return this.base.now() + this.monotonicOffset;
  }

  wallNow(): number {
    return this.base.wallNow() + this.wallOffset;
  }

  /** Timeline times (`FakeClock.now()`) at which this process's timers fired: what woke it, and when. */
  readonly firedAt: number[] = [];

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.base.schedule(
      () => {
        this.firedAt.push(this.base.now());
        callback();
      },
      ms,
      this.owner,
    );
  }

  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }

  /** Stops this process: none of its timers fire until `resume()`. */
  pause(): void {
    this.base.setPaused(this.owner, true);
  }

  /** Lets this process run again; timers that fell due meanwhile fire at the next `advance()`. */
  resume(): void {
    this.base.setPaused(this.owner, false);
  }

  /** This process's timers not yet fired or cleared. */
  get pendingCount(): number {
    return this.base.pendingCountOf(this.owner);
  }
}

/**
 * Advances `clock` by `ms`, stopping at every timer that falls due to run `check` (an invariant such as
 * "at most one candidate leads"), and once more at the end.
 */
export async function runTimers(clock: FakeClock, ms: number, check: () => void): Promise<void> {
  const target = clock.now() + ms;
  for (let guard = 0; ; guard++) {
    if (guard > 1_000_000) throw new Error('runTimers(): too many timers');
    const next = clock.nextDueAt();
    if (next === undefined || next > target) break;
    await clock.advanceTo(next);
    check();
  }
  await clock.advanceTo(target);
  check();
}

/**
 * Runs `clock` timer by timer, checking `check` at each, until `predicate` holds; throws when it does not
 * within `limitMs` of fake time.
 */
export async function runTimersUntil(
  clock: FakeClock,
  predicate: () => boolean,
  limitMs: number,
  what: string,
  check: () => void,
): Promise<void> {
  const limit = clock.now() + limitMs;
  await clock.advance(0);
  check();
  while (!predicate()) {
    const next = clock.nextDueAt();
    if (next === undefined || next > limit) throw new Error(`runUntil: no ${what} within ${limitMs} ms`);
    await clock.advanceTo(next);
    check();
  }
}
