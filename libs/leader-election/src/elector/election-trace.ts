/**
 * Handover tracing for the benchmark: with `LEADER_ELECTION_TRACE=1` in the environment, each step of a
 * graceful handover prints one JSON line `{"type":"trace","step":...,"t":...}` on stdout, stamped with
 * the host clock (sub-millisecond, comparable across processes). Off by default: one check per call.
 */
const enabled = typeof process !== 'undefined' && process.env.LEADER_ELECTION_TRACE === '1';

/** Prints one trace line when tracing is on. */
export function traceStep(election: string, step: string): void {
  if (!enabled) return;
  const t = performance.timeOrigin + performance.now();
  process.stdout.write(`${JSON.stringify({ type: 'trace', election, step, t })}\n`);
}
