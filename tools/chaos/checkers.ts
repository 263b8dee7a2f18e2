// The chaos harness's checkers: pure functions over a recorded history (tools/chaos/run.ts records it).
// All times are milliseconds in the harness's time base (its monotonic clock, 0 at the run's start); each
// candidate's own monotonic timestamps were converted to it before (see `clockOffset`).

import type { ClusterRecovery } from './galera-recovery';

/** Lease timing of the run. */
export interface ChaosTiming {
  /** L */
  readonly leaseMs: number;
  /** R */
  readonly renewMs: number;
  /** P */
  readonly pollMs: number;
  /** M */
  readonly marginMs: number;
  /** The library's deadline of one lease operation: `min(2000, L - M)` by default. */
  readonly operationTimeoutMs: number;
}

/** One event a candidate printed, in harness time. */
export interface LifeEvent {
  readonly type: 'elected' | 'revoked' | 'lease';
  readonly term: number;
  /** When the candidate printed it. */
  readonly t: number;
  /** `lease` only: the end of the belief this confirmation gives (t_send + L - M). */
  readonly validUntil?: number;
}

/** One OS process of one candidate slot, from spawn to exit. */
export interface Life {
  /** `c<slot>.<n>`: slot and how many times that slot was (re)started before. */
  readonly id: string;
  readonly slot: number;
  /** The library's candidate id (holder in the lease row and the ledger), once the process printed it. */
  readonly candidateId: string | null;
  readonly startedAt: number;
  /** When it was up (bootstrapped, campaigning: its `ready` line), or `null` when it never got there. */
  readonly readyAt: number | null;
  /** When the harness saw the process exit; `null`: still running when the history was taken. */
  readonly exitedAt: number | null;
  /** The libfaketime offset it ran under, e.g. `+1h`; `null` for the real clock. */
  readonly skew: string | null;
  /** SIGSTOP to SIGCONT. */
  readonly pauses: readonly { readonly from: number; readonly to: number | null }[];
  readonly events: readonly LifeEvent[];
  /** Galera: when its lease traffic moved to which node (0-based), from its `node` lines. */
  readonly leaseNodes?: readonly { readonly t: number; readonly node: number }[];
}

/** One injected fault. */
export interface FaultRecord {
  readonly n: number;
  readonly kind: string;
  /** `leader`, `follower` or `server`; on Galera also `lease-node` or `other-node`. */
  readonly target: string;
  readonly slot: number | null;
  /** Galera node faults: the node (0-based). */
  readonly node?: number | null;
  /** Kind-specific parameters (pause length, latency, skew offset). */
  readonly params: Readonly<Record<string, number | string>>;
  readonly at: number;
  /** When the fault was healed (the process restarted or resumed, the proxy back to pass, the server up). */
  readonly healedAt: number | null;
  /**
   * The bound on a leader after this fault's heal when it is not the run's L + P + tolerance: on Galera,
   * L + 10 s after losing the node that carried the lease traffic.
   */
  readonly boundMs?: number;
  /**
   * Galera node faults: every leaderless gap that begins while the node is lost (from `at` to `healedAt`)
   * must end within this bound of its start, or of `at` when it began before (`checkNodeLosses`).
   */
  readonly lossBoundMs?: number;
}

/** One row of the fenced ledger, in id order. */
export interface LedgerRow {
  readonly id: number;
  readonly term: number;
  readonly holder: string;
}

/** One claimed run-once occurrence (for when the run-once API exists). */
export interface RunRow {
  readonly job: string;
  readonly occurrence: string;
  readonly term: number;
  readonly holder: string;
}

export interface ChaosHistory {
  readonly timing: ChaosTiming;
  /** When the harness stopped observing (harness time). */
  readonly endedAt: number;
  readonly lives: readonly Life[];
  readonly faults: readonly FaultRecord[];
  readonly ledger: readonly LedgerRow[];
  /** Why the ledger could not be read at the end of the run, if it could not: the ledger check fails. */
  readonly ledgerUnread?: string;
  /** `null`: run-once not exercised. */
  readonly runs: readonly RunRow[] | null;
  /**
   * Galera: every commit of the harness's own probe (one small UPDATE per node every 200 ms, straight to the
   * node, 1 s deadline): when the cluster could commit, on which node (0-based). For the report only.
   */
  readonly commits?: readonly { readonly node: number; readonly t: number }[];
  /**
   * Galera: what the harness did to bring the cluster back after a node fault's heal (tools/chaos/
   * galera-recovery.ts): a bootstrap of a primary component when no node had one, a restart of a node that
   * did not rejoin.
   */
  readonly recoveries?: readonly ClusterRecovery[];
}

/**
 * A time the cluster could not commit at all, ended by the harness bootstrapping a primary component after
 * fault `afterFault`: from the last probe commit before the bootstrap (or the bootstrap, without one) to the
 * first probe commit at or after it (or the end of the run). No candidate can hold or take a lease then.
 */
export interface RecoveryWindow {
  readonly afterFault: number;
  readonly from: number;
  readonly to: number;
}

/** The commit probe's commit times (any node), in order. */
const commitTimes = (history: ChaosHistory): number[] =>
  (history.commits ?? []).map((commit) => commit.t).sort((a, b) => a - b);

/** Every bootstrap's window (`RecoveryWindow`), in time order. */
export function recoveryWindows(history: ChaosHistory): RecoveryWindow[] {
  const times = commitTimes(history);
  return (history.recoveries ?? [])
    .filter((recovery) => recovery.action === 'bootstrap')
    .map((recovery) => ({
      afterFault: recovery.afterFault,
      from: times.filter((t) => t < recovery.at).at(-1) ?? recovery.at,
      to: times.find((t) => t >= recovery.at) ?? history.endedAt,
    }))
    .sort((a, b) => a.from - b.from);
}

/**
 * How long the cluster may commit nothing anywhere before the stall counts as an outage of the cluster
 * rather than a fault the library must ride out: L + 15 s, the longest node-loss bound (Galera's inactive
 * timeout after a frozen node). Seen in run 4: a node restart whose state transfer hung stalled every
 * commit for 314 s although two nodes reported a primary component.
 */
export const outageAfterMs = (timing: { readonly leaseMs: number }): number => timing.leaseMs + 15_000;

/**
 * Every cluster-wide commit stall longer than `outageAfterMs`: from the last probe commit (on any node)
 * before it to the first after it. No candidate can hold or take a lease anywhere then, whatever the
 * nodes report. `afterFault` is the last fault injected before it ended (0: none).
 */
export function outageWindows(history: ChaosHistory): RecoveryWindow[] {
  const times = commitTimes(history);
  if (times.length === 0) return [];
  const longerThan = outageAfterMs(history.timing);
  const windows: RecoveryWindow[] = [];
  const points = [...times, history.endedAt];
  for (let i = 1; i < points.length; i++) {
    if (points[i] - points[i - 1] <= longerThan) continue;
    const [from, to] = [points[i - 1], points[i]];
    // The fault in play: the commit that came last may have gone just before its injection.
    const afterFault = history.faults.filter((fault) => fault.at < to).at(-1)?.n ?? 0;
    windows.push({ afterFault, from, to });
  }
  return windows;
}

/** How much of [from, to] the windows cover (they may overlap each other). */
export function coveredMs(
  windows: readonly { from: number; to: number }[],
  from: number,
  to: number,
): number {
  let total = 0;
  let at = from;
  for (const window of [...windows].sort((a, b) => a.from - b.from)) {
    const start = Math.max(window.from, at);
    const end = Math.min(window.to, to);
    if (end > start) {
      total += end - start;
      at = end;
    }
  }
  return total;
}

/**
 * The longest time during [from, to] in which no probe committed on any node (a cluster-wide stall), or
 * `null` without probe commits. A stall that began before `from` counts from its start; one still going
 * at `to` counts until `to`.
 */
export function longestCommitStall(
  commits: readonly { readonly t: number }[],
  from: number,
  to: number,
): { readonly from: number; readonly ms: number } | null {
  if (commits.length === 0) return null;
  const times = commits.map((commit) => commit.t).sort((a, b) => a - b);
  const before = times.filter((t) => t < from).at(-1) ?? from;
  const points = [before, ...times.filter((t) => t >= from && t <= to), to];
  let longest = { from, ms: 0 };
  for (let i = 1; i < points.length; i++) {
    const ms = points[i] - points[i - 1];
    if (ms > longest.ms) longest = { from: points[i - 1], ms };
  }
  return longest;
}

/** A span during which one process believed it led one term. */
export interface Belief {
  readonly life: string;
  readonly candidateId: string | null;
  readonly term: number;
  readonly from: number;
  readonly to: number;
}

/**
 * The offset to add to a child's monotonic timestamps to get harness time, from (child stamp, harness
 * receive time) pairs: a line is received after it was stamped, so every `received - stamped` is at least
 * the true offset; the smallest is the tightest bound (off by the fastest pipe delivery, well under 1 ms).
 * Converted times are therefore never earlier than the truth.
 */
export function clockOffset(
  samples: readonly { readonly stamped: number; readonly received: number }[],
): number {
  let best = Infinity;
  for (const { stamped, received } of samples) best = Math.min(best, received - stamped);
  return best;
}

/**
 * Every span of leadership belief. A process believes it leads term T from its `elected` line; each
 * confirmed acquisition or renewal (`lease` line, printed synchronously when confirmed) extends the belief
 * to its `validUntil` (t_send + L - M: the library's `isLeader()` turns false then, whether or not the
 * process was paused and whether or not its step-down timer fired). A confirmation after the previous
 * `validUntil` passed starts a new span. A belief ends at the earliest of: `revoked`, the process's exit,
 * the `validUntil` of the last confirmation. A process paused by SIGSTOP confirms nothing, so its belief
 * ends at most L - M after the last renewal it sent before the pause.
 */
export function beliefs(history: ChaosHistory): Belief[] {
  const spans: Belief[] = [];
  for (const life of history.lives) {
    const events = [...life.events].sort((a, b) => a.t - b.t);
    const death = life.exitedAt ?? history.endedAt;
    let open: { term: number; from: number; until: number } | undefined;
    const close = (at: number) => {
      if (!open) return;
      const to = Math.min(at, open.until, death);
      if (to > open.from) {
        spans.push({ life: life.id, candidateId: life.candidateId, term: open.term, from: open.from, to });
      }
      open = undefined;
    };
    let leading: number | undefined;
    let last: { term: number; validUntil: number } | undefined;
    for (const event of events) {
      if (event.type === 'elected') {
        close(event.t);
        leading = event.term;
        // The acquisition's `lease` line came first (same instant): its validUntil applies. Without one
        // (instrumentation lost), the belief lasts until `revoked` or the exit: never shorter than true.
        const until = last?.term === event.term ? last.validUntil : Infinity;
        open = { term: event.term, from: event.t, until };
      } else if (event.type === 'lease') {
        last = { term: event.term, validUntil: event.validUntil ?? Infinity };
        const lastValid = last.validUntil;
        if (leading !== event.term) continue; // an acquisition: its `elected` line follows
        if (open && event.t <= open.until) open.until = Math.max(open.until, lastValid);
        else {
          close(Infinity);
          open = { term: event.term, from: event.t, until: lastValid };
        }
      } else if (event.type === 'revoked' && leading === event.term) {
        close(event.t);
        leading = undefined;
      }
    }
    close(Infinity);
  }
  return spans.sort((a, b) => a.from - b.from);
}

export interface CheckResult<V> {
  readonly name: string;
  readonly ok: boolean;
  readonly checked: number;
  readonly violations: readonly V[];
}

export interface Overlap {
  readonly a: Belief;
  readonly b: Belief;
  readonly ms: number;
}

/** (1) No two processes' leadership beliefs overlap. */
export function checkBeliefOverlaps(spans: readonly Belief[]): CheckResult<Overlap> {
  const sorted = [...spans].sort((x, y) => x.from - y.from);
  const violations: Overlap[] = [];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].from < sorted[i].to; j++) {
      if (sorted[j].life === sorted[i].life) continue;
      const ms = Math.min(sorted[i].to, sorted[j].to) - sorted[j].from;
      violations.push({ a: sorted[i], b: sorted[j], ms });
    }
  }
  return { name: 'belief overlaps', ok: violations.length === 0, checked: spans.length, violations };
}

export interface TermViolation {
  readonly term: number;
  readonly problem: string;
}

/** A granted term: who, when. */
export interface Grant {
  readonly term: number;
  readonly life: string;
  readonly candidateId: string | null;
  readonly t: number;
}

/** Every `elected` line, in time order. */
export function grants(history: ChaosHistory): Grant[] {
  const all: Grant[] = [];
  for (const life of history.lives) {
    for (const event of life.events) {
      if (event.type === 'elected') {
        all.push({ term: event.term, life: life.id, candidateId: life.candidateId, t: event.t });
      }
    }
  }
  return all.sort((a, b) => a.t - b.t);
}

/** (2) Terms strictly increase from one grant to the next, and each term has one holder. */
export function checkTerms(history: ChaosHistory): CheckResult<TermViolation> {
  const violations: TermViolation[] = [];
  const holders = new Map<number, string>();
  let highest: Grant | undefined;
  const all = grants(history);
  for (const grant of all) {
    if (highest && grant.term <= highest.term) {
      violations.push({
        term: grant.term,
        problem: `term ${grant.term} granted to ${grant.life} at ${fmt(grant.t)} after term ${highest.term} (${highest.life} at ${fmt(highest.t)})`,
      });
    }
    const holder = holders.get(grant.term);
    if (holder !== undefined && holder !== grant.life) {
      violations.push({
        term: grant.term,
        problem: `term ${grant.term} held by ${holder} and by ${grant.life}`,
      });
    }
    holders.set(grant.term, holder ?? grant.life);
    if (!highest || grant.term > highest.term) highest = grant;
  }
  return { name: 'terms', ok: violations.length === 0, checked: all.length, violations };
}

export interface LedgerViolation {
  readonly id: number;
  readonly problem: string;
}

/**
 * (3) The fenced ledger in id order (ids are taken at insert, the last statement before the fenced commit,
 * so id order is commit order): terms never decrease, each term has one writer, and that writer is the
 * candidate the term was granted to.
 */
export function checkLedger(history: ChaosHistory): CheckResult<LedgerViolation> {
  const violations: LedgerViolation[] = [];
  const granted = new Map<number, string>();
  for (const grant of grants(history)) {
    if (grant.candidateId !== null && !granted.has(grant.term)) granted.set(grant.term, grant.candidateId);
  }
  const writers = new Map<number, string>();
  let highest: LedgerRow | undefined;
  const rows = [...history.ledger].sort((a, b) => a.id - b.id);
  for (const row of rows) {
    if (highest && row.term < highest.term) {
      violations.push({
        id: row.id,
        problem: `row ${row.id} has term ${row.term} after row ${highest.id} with term ${highest.term}`,
      });
    }
    const writer = writers.get(row.term);
    if (writer !== undefined && writer !== row.holder) {
      violations.push({ id: row.id, problem: `term ${row.term} written by ${writer} and by ${row.holder}` });
    }
    writers.set(row.term, writer ?? row.holder);
    const holder = granted.get(row.term);
    if (holder !== undefined && holder !== row.holder) {
      violations.push({
        id: row.id,
        problem: `row ${row.id}: term ${row.term} written by ${row.holder}, granted to ${holder}`,
      });
    }
    if (!highest || row.term > highest.term) highest = row;
  }
  if (history.ledgerUnread !== undefined) {
    // Nothing read is nothing proven: an empty ledger must not pass as one without violations.
    violations.push({ id: 0, problem: `the ledger could not be read: ${history.ledgerUnread}` });
  }
  return { name: 'fenced ledger', ok: violations.length === 0, checked: rows.length, violations };
}

export interface RunOnceViolation {
  readonly job: string;
  readonly occurrence: string;
  readonly problem: string;
}

/**
 * (4) Run once: no (job, occurrence) run twice. `null` when the history has no runs (not exercised).
 */
export function checkRunOnce(history: ChaosHistory): CheckResult<RunOnceViolation> | null {
  if (history.runs === null) return null;
  const seen = new Map<string, RunRow>();
  const violations: RunOnceViolation[] = [];
  for (const run of history.runs) {
    const key = `${run.job}\u0000${run.occurrence}`;
    const first = seen.get(key);
    if (first) {
      violations.push({
        job: run.job,
        occurrence: run.occurrence,
        problem: `occurrence ${run.occurrence} of ${run.job} run twice: term ${first.term} (${first.holder}) and term ${run.term} (${run.holder})`,
      });
    } else seen.set(key, run);
  }
  return { name: 'run once', ok: violations.length === 0, checked: history.runs.length, violations };
}

export interface LivenessViolation {
  readonly fault: number;
  readonly kind: string;
  readonly healedAt: number;
  /** From when it was judged: the heal, or later when no candidate was up yet (all still booting). */
  readonly upAt: number;
  /** When a leader was next believed, or `null` when never. */
  readonly leaderAt: number | null;
  /** The bound that applied. */
  readonly boundMs: number;
  readonly problem: string;
}

export interface LivenessResult extends CheckResult<LivenessViolation> {
  /** L + P + tolerance: the bound of every heal without its own (`FaultRecord.boundMs`). */
  readonly boundMs: number;
  /** Per bound that applied (the run's and any fault's own): heals judged and the longest delay. */
  readonly perBound: readonly {
    readonly boundMs: number;
    readonly checked: number;
    readonly maxMs: number;
  }[];
  /** Heal to leader, per fault (0 when a leader was there at the heal), for the distribution. */
  readonly delays: readonly number[];
  /** Heals too close to the end of the run to judge. */
  readonly unjudged: number;
  /** Heals at which no candidate was up (every live one still booting): judged from the first one up. */
  readonly waitedForBoot: number;
  /** Heals judged from the end of a cluster recovery (`recoveryWindows`) instead of the heal itself. */
  readonly afterRecovery: number;
  /** Heals judged from the end of a cluster outage (`outageWindows`) instead of the heal itself. */
  readonly afterOutage: number;
}

/**
 * The first instant at or after `healedAt` at which some candidate is up (bootstrapped and not exited):
 * "some candidate can reach the database" needs a candidate. A process restarted by a fault needs seconds
 * to boot; when the faults just before restarted every other one, nobody can take over before that.
 * `healedAt` itself when no process comes up again (then the heal is judged from the heal).
 */
export function firstUpAt(history: ChaosHistory, healedAt: number): number {
  let best: number | null = null;
  for (const life of history.lives) {
    if (life.readyAt === null) continue;
    const at = Math.max(healedAt, life.readyAt);
    if (life.exitedAt !== null && life.exitedAt <= at) continue;
    if (best === null || at < best) best = at;
  }
  return best ?? healedAt;
}

/**
 * The tolerance on L + P for a leader after a heal: a statement sent just before the heal (into a
 * blackhole, to a server that was down) can hang until the library's operation deadline before the
 * candidate retries, plus a scheduling allowance for a loaded machine.
 */
export function livenessToleranceMs(timing: ChaosTiming, schedulingMs = 500): number {
  return timing.operationTimeoutMs + schedulingMs;
}

/**
 * (5) After every heal (all candidates can reach the database again), a leader within L + P + tolerance:
 * the earliest instant at or after the heal covered by some belief, counted from the heal or, when no
 * candidate was up at the heal, from the first one up (`firstUpAt`).
 */
export function checkLiveness(
  history: ChaosHistory,
  spans: readonly Belief[],
  toleranceMs: number = livenessToleranceMs(history.timing),
): LivenessResult {
  const runBoundMs = history.timing.leaseMs + history.timing.pollMs + toleranceMs;
  const violations: LivenessViolation[] = [];
  const delays: number[] = [];
  const perBound = new Map<number, { boundMs: number; checked: number; maxMs: number }>();
  let unjudged = 0;
  let checked = 0;
  let waitedForBoot = 0;
  const judged = (bound: number, delay: number) => {
    const entry = perBound.get(bound) ?? { boundMs: bound, checked: 0, maxMs: 0 };
    entry.checked++;
    entry.maxMs = Math.max(entry.maxMs, Math.round(delay));
    perBound.set(bound, entry);
  };
  const windows = recoveryWindows(history);
  const outages = outageWindows(history);
  let afterRecovery = 0;
  let afterOutage = 0;
  for (const fault of history.faults) {
    if (fault.healedAt === null) continue;
    const healedAt = fault.healedAt;
    const boundMs = fault.boundMs ?? runBoundMs;
    // When the cluster had no primary component after this heal and the harness bootstrapped one, the
    // bound counts from the moment the cluster could commit again (a leader that was there at the heal
    // but not after the window does not count). The same for an outage (no commit on any node for longer
    // than outageAfterMs) still going at the heal or starting within the bound.
    const window = windows.filter((w) => w.afterFault === fault.n).at(-1);
    const outage = outages.filter((w) => w.from < healedAt + boundMs && w.to > healedAt).at(-1);
    if (window) afterRecovery++;
    else if (outage) afterOutage++;
    const startAt = Math.max(healedAt, window?.to ?? healedAt, outage?.to ?? healedAt);
    let leaderAt: number | null = null;
    for (const span of spans) {
      if (span.to <= startAt) continue;
      const at = Math.max(span.from, startAt);
      if (leaderAt === null || at < leaderAt) leaderAt = at;
    }
    // A leader already there at the heal needs no candidate to come up.
    const from = leaderAt !== null && leaderAt <= startAt ? startAt : firstUpAt(history, startAt);
    if (from > startAt) waitedForBoot++;
    if (leaderAt !== null && leaderAt - from <= boundMs) {
      checked++;
      delays.push(Math.max(0, leaderAt - from));
      judged(boundMs, Math.max(0, leaderAt - from));
      continue;
    }
    if (history.endedAt < from + boundMs) {
      unjudged++;
      continue;
    }
    checked++;
    judged(boundMs, leaderAt === null ? history.endedAt - from : leaderAt - from);
    const since =
      from > startAt
        ? `the first candidate up at ${fmt(from)} after `
        : window
          ? `the cluster committed again at ${fmt(startAt)} (a primary component bootstrapped by the harness) after `
          : outage
            ? `the cluster committed again at ${fmt(startAt)} (no node committed for ${Math.round(outage.to - outage.from)} ms) after `
            : '';
    violations.push({
      fault: fault.n,
      kind: fault.kind,
      healedAt,
      upAt: from,
      leaderAt,
      boundMs,
      problem:
        leaderAt === null
          ? `no leader after fault ${fault.n} (${fault.kind}) healed at ${fmt(healedAt)}`
          : `leader only ${Math.round(leaderAt - from)} ms after ${since}fault ${fault.n} (${fault.kind}) healed at ${fmt(healedAt)}; bound ${boundMs} ms`,
    });
  }
  return {
    name: 'leader after heal',
    ok: violations.length === 0,
    checked,
    violations,
    boundMs: runBoundMs,
    perBound: [...perBound.values()].sort((a, b) => a.boundMs - b.boundMs),
    delays,
    unjudged,
    waitedForBoot,
    afterRecovery,
    afterOutage,
  };
}

/** Every span within [from, to] that no belief covers, in time order (an open one ends at `to`). */
export function leaderlessGaps(
  spans: readonly Belief[],
  from: number,
  to: number,
): { readonly from: number; readonly to: number }[] {
  const gaps: { from: number; to: number }[] = [];
  let covered = from;
  for (const span of [...spans].sort((a, b) => a.from - b.from)) {
    if (covered >= to) break;
    if (span.from > covered) gaps.push({ from: covered, to: Math.min(span.from, to) });
    covered = Math.max(covered, span.to);
  }
  if (to > covered) gaps.push({ from: covered, to });
  return gaps;
}

export interface NodeLossViolation {
  readonly fault: number;
  readonly kind: string;
  readonly target: string;
  readonly gapFrom: number;
  readonly gapTo: number;
  readonly boundMs: number;
  readonly problem: string;
}

export interface NodeLossResult extends CheckResult<NodeLossViolation> {
  /** Per node fault judged: from the loss (or the gap's start) to a leader again; 0 when none was lost. */
  readonly delays: readonly number[];
  /** Node faults whose gap was still open too close to the end of the run to judge. */
  readonly unjudged: number;
}

/**
 * (6) Galera: while a node is lost (SIGKILL to its rejoin, SIGSTOP to SIGCONT, a restart under a skewed
 * clock), every time without a leader that begins then ends within the fault's `lossBoundMs` of its start,
 * or of the loss when the leader was already gone: "losing the lease node gives a leader again within
 * L + 10 s". Judged from the first leader of the run on. `null` when no fault has a loss bound.
 */
export function checkNodeLosses(history: ChaosHistory, spans: readonly Belief[]): NodeLossResult | null {
  const judged = history.faults.filter((fault) => fault.lossBoundMs !== undefined);
  if (judged.length === 0) return null;
  const start = spans.length > 0 ? Math.min(...spans.map((span) => span.from)) : history.endedAt;
  const gaps = leaderlessGaps(spans, start, history.endedAt);
  // Time the cluster had no primary component until the harness bootstrapped one does not count, nor an
  // outage (no commit on any node for longer than outageAfterMs).
  const windows = [...recoveryWindows(history), ...outageWindows(history)];
  const violations: NodeLossViolation[] = [];
  const delays: number[] = [];
  let unjudged = 0;
  let checked = 0;
  for (const fault of judged) {
    const boundMs = fault.lossBoundMs!;
    const end = fault.healedAt ?? history.endedAt;
    let worst = 0;
    let open = false;
    for (const gap of gaps) {
      if (gap.from >= end || gap.to <= fault.at) continue;
      const since = Math.max(gap.from, fault.at);
      const ms = gap.to - since - coveredMs(windows, since, gap.to);
      if (gap.to >= history.endedAt && ms <= boundMs) {
        open = true;
        continue;
      }
      worst = Math.max(worst, ms);
      if (ms > boundMs) {
        violations.push({
          fault: fault.n,
          kind: fault.kind,
          target: fault.target,
          gapFrom: gap.from,
          gapTo: gap.to,
          boundMs,
          problem:
            `no leader for ${Math.round(ms)} ms from ${fmt(since)} during fault ${fault.n} (${fault.kind} on the ${fault.target}); bound ${boundMs} ms` +
            (gap.to - since > ms
              ? ` (not counting ${Math.round(gap.to - since - ms)} ms in which the cluster could not commit: no primary component before a recovery, or no commit on any node for over ${outageAfterMs(history.timing)} ms)`
              : ''),
        });
      }
    }
    if (open && worst <= boundMs) {
      unjudged++;
      continue;
    }
    checked++;
    delays.push(worst);
  }
  return {
    name: 'leader after node loss',
    ok: violations.length === 0,
    checked,
    violations,
    delays,
    unjudged,
  };
}

/** The longest span within [from, to] that no belief covers (no leader), for the report. */
export function longestLeaderless(
  spans: readonly Belief[],
  from: number,
  to: number,
): { readonly from: number; readonly ms: number } {
  let longest = { from, ms: 0 };
  let covered = from;
  for (const span of [...spans].sort((a, b) => a.from - b.from)) {
    if (span.from > covered && span.from - covered > longest.ms) {
      longest = { from: covered, ms: Math.min(span.from, to) - covered };
    }
    covered = Math.max(covered, span.to);
    if (covered >= to) break;
  }
  if (to > covered && to - covered > longest.ms) longest = { from: covered, ms: to - covered };
  return longest;
}

/**
 * The smallest distance from the end of one process's belief to the start of the next belief of another
 * process (a handover): how far the run came from an overlap. `null` when no handover happened.
 */
export function closestHandover(
  spans: readonly Belief[],
): { readonly from: Belief; readonly to: Belief; readonly ms: number } | null {
  let closest: { from: Belief; to: Belief; ms: number } | null = null;
  const sorted = [...spans].sort((a, b) => a.from - b.from);
  for (let i = 1; i < sorted.length; i++) {
    // The belief before it that ended last, of another process.
    let previous: Belief | undefined;
    for (let j = i - 1; j >= 0; j--) {
      if (sorted[j].life !== sorted[i].life && (!previous || sorted[j].to > previous.to))
        previous = sorted[j];
    }
    if (!previous) continue;
    const ms = sorted[i].from - previous.to;
    if (!closest || ms < closest.ms) closest = { from: previous, to: sorted[i], ms };
  }
  return closest;
}

/** Every checker over one history. */
export function checkAll(history: ChaosHistory, livenessTolerance?: number) {
  const spans = beliefs(history);
  return {
    overlaps: checkBeliefOverlaps(spans),
    terms: checkTerms(history),
    ledger: checkLedger(history),
    runOnce: checkRunOnce(history),
    liveness: checkLiveness(history, spans, livenessTolerance),
    nodeLosses: checkNodeLosses(history, spans),
    beliefs: spans.length,
    closestHandover: closestHandover(spans),
    // From the first leader (start-up is not a fault) to the end.
    longestLeaderless: longestLeaderless(spans, spans[0]?.from ?? history.endedAt, history.endedAt),
  };
}

function fmt(t: number): string {
  return `${(t / 1000).toFixed(3)} s`;
}
