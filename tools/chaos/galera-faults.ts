// The Galera node faults of `npm run chaos -- --galera` (tools/chaos/run.ts): which node a fault hits, the
// bounds its heal is judged by, and the clock a skewed node gets. Pure functions of the harness's seeded
// random source and what the candidates reported, so that they can be tested without a cluster.
import type { ChaosTiming } from './checkers';

/** SIGKILL then rejoin; SIGSTOP then SIGCONT; a restart under a skewed wall clock (libfaketime). */
export const GALERA_FAULT_KINDS = ['node-kill', 'node-pause', 'node-skew'] as const;
export type GaleraFaultKind = (typeof GALERA_FAULT_KINDS)[number];

/** Galera's default suspect timeout (evs.suspect_timeout, 5 s) plus its view change: "L + 10 s" in the issue. */
export const NODE_LOSS_ALLOWANCE_MS = 10_000;
/**
 * A frozen node (SIGSTOP) that resumes after the others suspected it can keep the cluster from forming a
 * primary component until Galera's evs.inactive_timeout (15 s by default) from the freeze: no node commits
 * meanwhile (measured: bench/results/chaos-galera.md, first run, and its notes).
 */
export const NODE_FREEZE_ALLOWANCE_MS = 15_000;

/** What the harness knows of one candidate process for choosing the lease node. */
export interface CandidateView {
  readonly alive: boolean;
  /** The term it announced leading and has not announced the end of, or `null`. */
  readonly leadingTerm: number | null;
  /** The node its lease traffic goes to (its last `node` line), or `null` before it said. */
  readonly leaseNode: number | null;
}

/**
 * The node carrying the lease traffic that matters: the leader's (a process that announced leadership
 * and did not announce its end); without a leader, the node most live candidates use (the lowest on a
 * tie); without any report, node 0 (the first in every candidate's list).
 */
export function leaseNodeOf(candidates: readonly CandidateView[]): number {
  const leader = candidates.find(
    (candidate) => candidate.alive && candidate.leadingTerm !== null && candidate.leaseNode !== null,
  );
  if (leader) return leader.leaseNode!;
  const counts = new Map<number, number>();
  for (const candidate of candidates) {
    if (candidate.alive && candidate.leaseNode !== null) {
      counts.set(candidate.leaseNode, (counts.get(candidate.leaseNode) ?? 0) + 1);
    }
  }
  let best: number | undefined;
  for (const [node, count] of counts) {
    if (best === undefined || count > counts.get(best)! || (count === counts.get(best)! && node < best)) {
      best = node;
    }
  }
  return best ?? 0;
}

/**
 * The lease node or another one, by a seeded coin (`random()` is called twice, whatever the outcome, so
 * that a seed gives the same sequence of draws whichever node leads).
 */
export function pickNodeTarget(
  random: () => number,
  leaseNode: number,
  nodes: number,
): { target: 'lease-node' | 'other-node'; node: number } {
  const wantLease = random() < 0.5;
  const others = Array.from({ length: nodes }, (_, node) => node).filter((node) => node !== leaseNode);
  const other = others[Math.floor(random() * others.length)];
  return wantLease ? { target: 'lease-node', node: leaseNode } : { target: 'other-node', node: other };
}

/**
 * The bounds a node fault is judged by (tools/chaos/checkers.ts). Any node loss stalls commits on every
 * node until Galera evicts it (suspect timeout, 5 s by default), so every gap without a leader while a
 * killed or restarted node is lost must end within L + 10 s (`lossBoundMs`); while a node is frozen, within
 * L + 15 s (Galera's inactive timeout, `NODE_FREEZE_ALLOWANCE_MS`). After the heal: L + 10 s when the lost
 * node carried the leader's lease traffic (the bound for losing the lease node) and after any
 * SIGCONT (the cluster may still stall until 15 s after the freeze, at most 10 s after a SIGCONT that came
 * after the 5 s suspect timeout), else the run's L + P bound (`boundMs` undefined).
 */
export function nodeFaultBounds(
  timing: ChaosTiming,
  target: 'lease-node' | 'other-node',
  kind: GaleraFaultKind = 'node-kill',
): { boundMs?: number; lossBoundMs: number } {
  const L = timing.leaseMs;
  const lossBoundMs = L + (kind === 'node-pause' ? NODE_FREEZE_ALLOWANCE_MS : NODE_LOSS_ALLOWANCE_MS);
  return target === 'lease-node' || kind === 'node-pause'
    ? { boundMs: L + NODE_LOSS_ALLOWANCE_MS, lossBoundMs }
    : { lossBoundMs };
}

/**
 * The wall-clock offset of a node restarted by a `node-skew` fault: within +-0.4 M, so that two skewed
 * nodes differ by less than M (docs/design.md, "The clock margin across a switch": M must exceed the
 * largest clock difference between nodes; a larger skew is outside the guarantee, not a finding). One in
 * five puts the node's clock right. `faketime` is the libfaketime offset in seconds, `null` for none.
 */
export function nodeSkewOffset(
  random: () => number,
  marginMs: number,
): { offsetMs: number; faketime: string | null } {
  const limit = Math.floor(0.4 * marginMs);
  const roll = random();
  const size = Math.max(1, Math.round(limit * random()));
  if (roll < 0.2 || limit < 1) return { offsetMs: 0, faketime: null };
  const offsetMs = roll < 0.6 ? -size : size;
  return { offsetMs, faketime: `${offsetMs < 0 ? '-' : '+'}${(Math.abs(offsetMs) / 1000).toFixed(3)}` };
}
