/** Wall-clock milliseconds with sub-millisecond resolution; the candidates print the same clock. */
export const now = (): number => performance.timeOrigin + performance.now();

/** Set when the bench is interrupted: every wait then ends at its next check. */
let abortReason: string | undefined;

export function abortBench(reason: string): void {
  abortReason ??= reason;
}

export function isAborted(): boolean {
  return abortReason !== undefined;
}

export function throwIfAborted(): void {
  if (abortReason !== undefined) throw new Error(`bench aborted: ${abortReason}`);
}

export async function sleep(ms: number): Promise<void> {
  // In slices, so that an interruption is noticed within a quarter of a second.
  const end = now() + Math.max(0, ms);
  for (;;) {
    throwIfAborted();
    const left = end - now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, 250)));
  }
}

/** Polls `probe` every `everyMs` until it returns something truthy; throws after `timeoutMs`. */
export async function waitUntil<T>(
  probe: () => T | undefined | null | false,
  timeoutMs: number,
  what: string,
  everyMs = 5,
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    throwIfAborted();
    const value = probe();
    if (value) return value;
    if (now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs)} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Quantile with linear interpolation between closest ranks (q in [0, 1]). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : Number.NaN,
    p50: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    max: values.length ? Math.max(...values) : Number.NaN,
    mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN,
  };
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function randomBetween(low: number, high: number): number {
  return low + Math.random() * (high - low);
}

/** Progress lines go to stderr so that stdout stays clean for a caller that pipes it. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
