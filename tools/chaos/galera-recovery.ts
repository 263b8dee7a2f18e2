// `npm run chaos -- --galera`: bringing the throwaway cluster back to three synced nodes after a node fault,
// the way an operator would (tools/chaos/run.ts calls `restoreCluster` after every node fault's heal).
//
// A node resumed after a freeze keeps reporting its old view (Synced, Primary, size 3) for seconds while the
// other two have already formed a primary component without it: a status check alone let the next node fault
// start while the cluster was still two nodes, and killing one of those two left the last one (and the
// resumed one) without a primary component for good (bench/results/chaos-galera-run2.md, fault 219: the run
// died on "failed to reach primary view"). So "whole" here means: every node answers Synced in a primary
// component of all nodes, all with the same configuration id, and each has committed a probe UPDATE since the
// check began. When no node can commit for `primaryWaitMs` and none reports a primary component, the harness
// bootstraps one (`pc.bootstrap=YES`) on the most advanced live node, as the Galera manual tells an operator;
// a node that does not rejoin by itself is restarted, and a restart that fails is tried again. Every such
// action is a `ClusterRecovery` in the history and the report.
import { createConnection } from 'mysql2/promise';
import { wsrepStatus, type GaleraCluster } from '../galera-cluster';

/** What the harness did to the cluster between two faults. */
export interface ClusterRecovery {
  /** `bootstrap`: `pc.bootstrap=YES` on `node`; `restart`: `node` restarted (it rejoins by state transfer). */
  readonly action: 'bootstrap' | 'restart';
  /** The fault whose heal it followed. */
  readonly afterFault: number;
  /** When the harness acted (harness time). */
  readonly at: number;
  /** The node acted on (0-based). */
  readonly node: number;
  /** Why, with the nodes' states. */
  readonly reason: string;
  /** False when the action itself failed (a restart that did not sync: tried again). */
  readonly ok: boolean;
}

/** One node's state as the recovery sees it: `null` when down or not answering. */
export interface NodeState {
  readonly node: number;
  readonly running: boolean;
  readonly status: {
    readonly clusterStatus: string;
    readonly localState: string;
    readonly ready: string;
    readonly size: number;
    readonly confId: string;
    readonly lastCommitted: number;
  } | null;
}

/** Synced and ready in a primary component of `size` nodes, by the node's own (possibly stale) word. */
export function reportsSynced(state: NodeState, size: number): boolean {
  const s = state.status;
  return (
    state.running &&
    s !== null &&
    s.clusterStatus === 'Primary' &&
    s.localState === '4' &&
    s.ready === 'ON' &&
    s.size === size
  );
}

/**
 * The cluster is whole: every node reports Synced in a primary component of all of them, all report the same
 * configuration id (a resumed node's stale view has an older one), and every node committed since `since`.
 */
export function clusterWhole(
  states: readonly NodeState[],
  commits: readonly { readonly node: number; readonly t: number }[],
  since: number,
): boolean {
  const size = states.length;
  if (!states.every((state) => reportsSynced(state, size))) return false;
  if (new Set(states.map((state) => state.status!.confId)).size !== 1) return false;
  return states.every((state) => commits.some((commit) => commit.node === state.node && commit.t >= since));
}

/**
 * The node to bootstrap a primary component on: the live node with the highest `wsrep_last_committed` (it
 * has every transaction the others have; the lowest index on a tie), or `null` when no node answers.
 */
export function mostAdvancedNode(states: readonly NodeState[]): NodeState | null {
  let best: NodeState | null = null;
  for (const state of states) {
    if (!state.running || state.status === null) continue;
    if (best === null || state.status.lastCommitted > best.status!.lastCommitted) best = state;
  }
  return best;
}

/**
 * True when the cluster needs a bootstrap: no probe commit anywhere since `quietSince` (the later of the heal
 * and the last commit) for `primaryWaitMs`, and no live node reports a primary component.
 */
export function needsBootstrap(
  states: readonly NodeState[],
  quietSince: number,
  t: number,
  primaryWaitMs: number,
): boolean {
  if (t - quietSince < primaryWaitMs) return false;
  // A lone node's stale view (Primary, the others not in it) is no primary component (run 5).
  if (agreedPrimary(states)) return false;
  return mostAdvancedNode(states) !== null;
}

/**
 * The nodes of the newest primary component: Synced and ready in a primary component, at the highest
 * configuration id any such node reports (a node resumed after a freeze still reports its old, lower one).
 */
export function primaryMembers(states: readonly NodeState[]): Set<number> {
  const primary = states.filter(
    (state) =>
      state.running &&
      state.status !== null &&
      state.status.clusterStatus === 'Primary' &&
      state.status.localState === '4' &&
      state.status.ready === 'ON',
  );
  let newest: bigint | undefined;
  for (const state of primary) {
    const conf = BigInt(state.status!.confId || '0');
    if (newest === undefined || conf > newest) newest = conf;
  }
  return new Set(
    primary.filter((state) => BigInt(state.status!.confId || '0') === newest).map((state) => state.node),
  );
}

/**
 * The nodes to restart while a primary component commits: a node that is down (its restart failed), and,
 * once `waited` reaches `rejoinWaitMs`, a running node outside the newest primary component. Never a member
 * of that component: restarting those can leave the cluster without one (the third Galera run restarted
 * nodes 1 and 2 of a 2-node primary component, because neither was "synced in a component of all three",
 * and then no node could start again).
 */
export function nodesToRestart(
  states: readonly NodeState[],
  waited: number,
  rejoinWaitMs: number,
): NodeState[] {
  const members = primaryMembers(states);
  return states.filter((state) => !state.running || (waited >= rejoinWaitMs && !members.has(state.node)));
}

/**
 * The nodes to restart now. With a primary component that commits: `nodesToRestart`. With one that its
 * members agree on (`agreedPrimary`) but that commits nothing: only the nodes that are down, at once. Run 4 waited 250 s
 * there after a node's start at a heal had failed: its state transfer's donor kept every commit of the
 * other two nodes stalled, and the harness restarted nobody because nothing committed. Without any
 * primary component: nobody (that is a bootstrap's case).
 */
export function restartsNow(
  states: readonly NodeState[],
  primaryAlive: boolean,
  waited: number,
  rejoinWaitMs: number,
): NodeState[] {
  if (primaryAlive) return nodesToRestart(states, waited, rejoinWaitMs);
  if (!agreedPrimary(states)) return [];
  return states.filter((state) => !state.running);
}

/**
 * Whether the nodes that report a primary component agree on it: as many of them, with one view, as its
 * size says. A node left alone with its stale view (Primary, size 3, the others not) does not count:
 * restarting nodes then would only keep the recovery from bootstrapping (run 5 looped on that).
 */
export function agreedPrimary(states: readonly NodeState[]): boolean {
  const members = primaryMembers(states);
  if (members.size === 0) return false;
  const size = states.find((state) => members.has(state.node))!.status!.size;
  return members.size === size;
}

/** `node 1 non-Primary/0 size 2 conf 18446744073709551615 last 1234; node 2 down; ...` */
export function describeStates(states: readonly NodeState[]): string {
  return states
    .map((state) => {
      const name = `node ${state.node + 1}`;
      if (!state.running) return `${name} down`;
      const s = state.status;
      if (!s) return `${name} not answering`;
      return `${name} ${s.clusterStatus}/${s.localState} size ${s.size} conf ${s.confId} last ${s.lastCommitted}`;
    })
    .join('; ');
}

export async function nodeStates(cluster: GaleraCluster): Promise<NodeState[]> {
  return Promise.all(
    cluster.nodes.map(async (node, index) => {
      if (!node.running()) return { node: index, running: false, status: null };
      const status = await wsrepStatus(node.port);
      return {
        node: index,
        running: true,
        status: status
          ? {
              clusterStatus: status.get('wsrep_cluster_status') ?? '',
              localState: status.get('wsrep_local_state') ?? '',
              ready: status.get('wsrep_ready') ?? '',
              size: Number(status.get('wsrep_cluster_size') ?? 0),
              confId: status.get('wsrep_cluster_conf_id') ?? '',
              lastCommitted: Number(status.get('wsrep_last_committed') ?? -1),
            }
          : null,
      };
    }),
  );
}

export interface RestoreOptions {
  readonly cluster: GaleraCluster;
  /** The commit probe's commits so far (grows while this runs). */
  readonly commits: readonly { readonly node: number; readonly t: number }[];
  /** The fault whose heal this follows, and a few words on it for the reasons. */
  readonly afterFault: number;
  readonly faultText: string;
  /** Harness time. */
  readonly now: () => number;
  readonly stopping: () => boolean;
  /** No commit anywhere and no primary component for this long: bootstrap one (default 20 s). */
  readonly primaryWaitMs?: number;
  /** A node not synced in the primary component this long after there is one: restart it (default 60 s). */
  readonly rejoinWaitMs?: number;
  /** Give up (throw) after this long (default 10 min). */
  readonly giveUpMs?: number;
  /** Called with each action as it is taken (the harness records it and prints it). */
  readonly record: (recovery: ClusterRecovery) => void;
}

/**
 * Waits until the cluster is whole (`clusterWhole`); bootstraps a primary component when there is none
 * (`needsBootstrap`); restarts a node that stays down or out of the primary component, again when a restart
 * fails. Throws only after `giveUpMs` (then the run ends with that error).
 */
export async function restoreCluster(options: RestoreOptions): Promise<void> {
  const { cluster, commits, now } = options;
  const primaryWaitMs = options.primaryWaitMs ?? 20_000;
  const rejoinWaitMs = options.rejoinWaitMs ?? 60_000;
  const since = now();
  const giveUpAt = since + (options.giveUpMs ?? 600_000);
  const lastCommit = () => commits.at(-1)?.t ?? since;
  let lastAction = since;
  while (!options.stopping()) {
    const states = await nodeStates(cluster);
    const t = now();
    if (clusterWhole(states, commits, since)) return;
    if (t > giveUpAt) {
      throw new Error(
        `The Galera cluster did not become whole within ${options.giveUpMs ?? 600_000} ms of fault ` +
          `${options.afterFault}: ${describeStates(states)}`,
      );
    }
    const quietSince = Math.max(since, lastAction, lastCommit());
    if (needsBootstrap(states, quietSince, t, primaryWaitMs)) {
      const node = mostAdvancedNode(states)!;
      const reason =
        `no node committed and none was in a primary component for ${Math.round(t - quietSince)} ms after ` +
        `${options.faultText}: ${describeStates(states)}; node ${node.node + 1} is the most advanced ` +
        `(wsrep_last_committed ${node.status!.lastCommitted})`;
      let ok = true;
      try {
        const conn = await createConnection({ uri: cluster.nodes[node.node].url, connectTimeout: 2_000 });
        try {
          await conn.query("SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'");
        } finally {
          conn.destroy();
        }
      } catch (error) {
        ok = false;
        process.stderr.write(`chaos: bootstrap on node ${node.node + 1} failed: ${String(error)}\n`);
      }
      options.record({
        action: 'bootstrap',
        afterFault: options.afterFault,
        at: t,
        node: node.node,
        reason,
        ok,
      });
      // Refused ("Incorrect arguments to SET": seen while the resumed node was still joining the
      // non-primary component): tried again 2 s later; done: the others get the full wait to join it.
      lastAction = ok ? now() : now() - primaryWaitMs + 2_000;
      continue;
    }
    // A primary component exists (something committed lately): restart a node that stays out of it.
    // A node that is down (its restart failed) is started again at once, one still out after `rejoinWaitMs`.
    const primaryAlive = commits.some((commit) => commit.t >= Math.max(since, t - 2_000));
    const waited = t - Math.max(since, lastAction);
    const out = restartsNow(states, primaryAlive, waited, rejoinWaitMs);
    if (out.length > 0) {
      for (const state of out) {
        const reason = state.running
          ? `node ${state.node + 1} was not synced in the primary component ${Math.round(waited)} ms after ` +
            `${options.faultText}: ${describeStates(states)}`
          : `node ${state.node + 1} was down after ${options.faultText} (its restart had failed): ${describeStates(states)}`;
        let ok = true;
        try {
          await cluster.nodes[state.node].restart();
        } catch (error) {
          ok = false;
          process.stderr.write(
            `chaos: restart of node ${state.node + 1} failed (tried again): ${String(error)}\n`,
          );
        }
        options.record({
          action: 'restart',
          afterFault: options.afterFault,
          at: t,
          node: state.node,
          reason,
          ok,
        });
      }
      lastAction = now();
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
