// `npm run chaos -- --galera`: how the harness brings the cluster back after a node fault and how it judges
// and reports that (tools/chaos/galera-recovery.ts, tools/chaos/checkers.ts, tools/chaos/report.ts).
// Pure functions on hand-made states and histories, then the recovery itself on a real 3-node cluster driven
// into the state that ended bench/results/chaos-galera-run2.md: no primary component anywhere.
import { createConnection, type Connection } from 'mysql2/promise';
import {
  beliefs,
  checkAll,
  checkLiveness,
  checkNodeLosses,
  outageWindows,
  recoveryWindows,
  type ChaosHistory,
  type FaultRecord,
  type Life,
  type LifeEvent,
} from '../tools/chaos/checkers';
import {
  clusterWhole,
  mostAdvancedNode,
  needsBootstrap,
  nodesToRestart,
  nodeStates,
  restartsNow,
  restoreCluster,
  type ClusterRecovery,
  type NodeState,
} from '../tools/chaos/galera-recovery';
import { renderReport, summarize } from '../tools/chaos/report';
import { startGaleraCluster, type GaleraCluster } from '../tools/galera-cluster';

const TIMING = { leaseMs: 2_000, renewMs: 400, pollMs: 400, marginMs: 400, operationTimeoutMs: 1_600 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const state = (
  node: number,
  clusterStatus: string,
  confId: string,
  lastCommitted: number,
  extra: Partial<NonNullable<NodeState['status']>> = {},
): NodeState => ({
  node,
  running: true,
  status: {
    clusterStatus,
    localState: clusterStatus === 'Primary' ? '4' : '0',
    ready: clusterStatus === 'Primary' ? 'ON' : 'OFF',
    size: 3,
    confId,
    lastCommitted,
    ...extra,
  },
});
const down = (node: number): NodeState => ({ node, running: false, status: null });

describe('chaos --galera: restoring the cluster between faults', () => {
  describe('when the cluster is whole', () => {
    const commitsOnAll = (t: number) => [0, 1, 2].map((node) => ({ node, t }));

    it('is whole when all three report Synced in one view and each committed since the heal', () => {
      const states = [0, 1, 2].map((node) => state(node, 'Primary', '7', 100));
      expect(clusterWhole(states, commitsOnAll(5_100), 5_000)).toBe(true);
    });

    it('is not whole while a resumed node still reports its old view (the run that stopped at fault 219)', () => {
      // Measured: after a 5.7 s freeze the resumed node says Primary, Synced, size 3, conf 3 for seconds while
      // the other two are a primary component of 2 with conf 4. Its own status alone looked whole.
      const stale = [
        state(0, 'Primary', '4', 5, { size: 2 }),
        state(1, 'Primary', '3', 4),
        state(2, 'Primary', '4', 5, { size: 2 }),
      ];
      expect(clusterWhole(stale, commitsOnAll(5_100), 5_000)).toBe(false);
      // Even once every node reports size 3: a view that differs, or no commit through a node since the heal.
      const views = [state(0, 'Primary', '5', 6), state(1, 'Primary', '3', 4), state(2, 'Primary', '5', 6)];
      expect(clusterWhole(views, commitsOnAll(5_100), 5_000)).toBe(false);
      const same = [0, 1, 2].map((node) => state(node, 'Primary', '5', 6));
      const noCommitOnNode1 = commitsOnAll(5_100).filter((commit) => commit.node !== 1);
      expect(clusterWhole(same, [...noCommitOnNode1, { node: 1, t: 4_900 }], 5_000)).toBe(false);
    });

    it('is not whole with a node down', () => {
      const states = [
        state(0, 'Primary', '5', 6, { size: 2 }),
        down(1),
        state(2, 'Primary', '5', 6, { size: 2 }),
      ];
      expect(clusterWhole(states, commitsOnAll(5_100), 5_000)).toBe(false);
    });
  });

  describe('when to bootstrap a primary component, and where', () => {
    const lost = [
      down(0),
      state(1, 'non-Primary', '18446744073709551615', 4),
      state(2, 'non-Primary', '18446744073709551615', 5),
    ];

    it('bootstraps on the live node with the highest wsrep_last_committed', () => {
      expect(mostAdvancedNode(lost)?.node).toBe(2);
      expect(mostAdvancedNode([state(0, 'non-Primary', 'x', 9), state(1, 'non-Primary', 'x', 9)])?.node).toBe(
        0,
      );
      expect(mostAdvancedNode([down(0), { node: 1, running: true, status: null }])).toBeNull();
    });

    it('only after no commit and no primary component for the wait, never while its members agree on one', () => {
      expect(needsBootstrap(lost, 10_000, 29_999, 20_000)).toBe(false);
      expect(needsBootstrap(lost, 10_000, 30_000, 20_000)).toBe(true);
      const onePrimary = [down(0), lost[1], state(2, 'Primary', '6', 5, { size: 1 })];
      expect(needsBootstrap(onePrimary, 10_000, 60_000, 20_000)).toBe(false);
      // Nobody answers: nothing to bootstrap on.
      expect(needsBootstrap([down(0), down(1), down(2)], 10_000, 60_000, 20_000)).toBe(false);
      // Run 5, fault 196: node 1 alone reports a 3-node primary component that nobody else is in.
      const staleView = [state(0, 'Primary', '65', 11_315), down(1), state(2, 'non-Primary', 'x', 11_315)];
      expect(needsBootstrap(staleView, 10_000, 60_000, 20_000)).toBe(true);
    });
  });

  describe('which nodes to restart', () => {
    // The states of bench/results/chaos-galera-run3.md after fault 272 (a freeze of node 3): nodes 1 and
    // 2 a primary component of 2 (conf 65), node 3 resumed with its stale 3-node view (conf 64).
    const afterFreeze = [
      state(0, 'Primary', '65', 18_537, { size: 2 }),
      state(1, 'Primary', '65', 18_537, { size: 2 }),
      state(2, 'Primary', '64', 17_643),
    ];

    it('restarts only the node outside the newest primary component, never its members (run 3 restarted all three)', () => {
      expect(nodesToRestart(afterFreeze, 60_000, 60_000).map((s) => s.node)).toEqual([2]);
    });

    it('waits rejoinWaitMs before restarting a running node, but starts a node that is down at once', () => {
      expect(nodesToRestart(afterFreeze, 59_999, 60_000)).toEqual([]);
      const withDown = [afterFreeze[0], afterFreeze[1], down(2)];
      expect(nodesToRestart(withDown, 0, 60_000).map((s) => s.node)).toEqual([2]);
    });

    it('starts a node that is down at once while the others report a primary component that commits nothing (run 4 waited 250 s)', () => {
      // Fault 252 of run 4: nodes 1 and 2 Primary (size 2), node 3 down after its start at the heal
      // failed, and no commit anywhere (the donor of node 3's state transfer stalled the cluster).
      const stalled = [
        state(0, 'Primary', '64', 17_483, { size: 2 }),
        state(1, 'Primary', '64', 17_482, { size: 2 }),
        down(2),
      ];
      expect(restartsNow(stalled, false, 0, 60_000).map((s) => s.node)).toEqual([2]);
      // A running node out of the component still waits for commits and rejoinWaitMs.
      expect(restartsNow(afterFreeze, false, 120_000, 60_000)).toEqual([]);
      expect(restartsNow(afterFreeze, true, 120_000, 60_000).map((s) => s.node)).toEqual([2]);
      // Run 5, fault 196: node 1 alone with its stale 3-node view, node 3 non-primary, node 2 down and
      // failing to start. Restarting node 2 again and again kept the recovery from bootstrapping.
      const staleView = [
        state(0, 'Primary', '65', 11_315),
        down(1),
        state(2, 'non-Primary', '18446744073709551615', 11_315, { size: 1 }),
      ];
      expect(restartsNow(staleView, false, 0, 60_000)).toEqual([]);
      // No primary component anywhere: a bootstrap's case, nobody is restarted.
      const noPrimary = [
        state(0, 'non-Primary', '18446744073709551615', 1),
        state(1, 'non-Primary', '18446744073709551615', 1),
        down(2),
      ];
      expect(restartsNow(noPrimary, false, 120_000, 60_000)).toEqual([]);
    });

    it('restarts nothing when all three are members of one component', () => {
      const whole = [0, 1, 2].map((node) => state(node, 'Primary', '66', 19_000));
      expect(nodesToRestart(whole, 120_000, 60_000)).toEqual([]);
    });
  });

  describe('judging a run with a recovery', () => {
    const lease = (term: number, tSend: number): LifeEvent => ({
      type: 'lease',
      term,
      t: tSend + 5,
      validUntil: tSend + TIMING.leaseMs - TIMING.marginMs,
    });
    const leading = (term: number, from: number, until: number): LifeEvent[] => {
      const events: LifeEvent[] = [lease(term, from - 5), { type: 'elected', term, t: from }];
      for (let t = from + TIMING.renewMs; t < until; t += TIMING.renewMs) events.push(lease(term, t));
      return events;
    };
    const life = (id: string, events: LifeEvent[]): Life => ({
      id,
      slot: Number(id[1]),
      candidateId: `holder-${id}`,
      startedAt: 0,
      readyAt: 0,
      exitedAt: null,
      skew: null,
      pauses: [],
      events,
    });
    // Node 2 (the lease node) frozen from 10 s to 15.7 s (fault 1). The cluster commits every 200 ms until
    // 12 s, then never again until the harness bootstraps a primary component at 40 s; the first commit after
    // it is at 41 s.
    const pause: FaultRecord = {
      n: 1,
      kind: 'node-pause',
      target: 'lease-node',
      slot: null,
      node: 1,
      params: { node: 2, pauseMs: 5_700 },
      at: 10_000,
      healedAt: 15_700,
      boundMs: 12_000,
      lossBoundMs: 17_000,
    };
    const commits = [
      ...Array.from({ length: 61 }, (_, i) => ({ node: i % 3, t: i * 200 })),
      ...Array.from({ length: 100 }, (_, i) => ({ node: i % 3, t: 41_000 + i * 200 })),
    ];
    const bootstrap: ClusterRecovery = {
      action: 'bootstrap',
      afterFault: 1,
      at: 40_000,
      node: 2,
      reason: 'no node committed and none was in a primary component for 20000 ms',
      ok: true,
    };
    const run = (lives: Life[], recoveries: ClusterRecovery[] = [bootstrap]): ChaosHistory => ({
      timing: TIMING,
      endedAt: 70_000,
      lives,
      faults: [pause],
      ledger: [],
      runs: null,
      commits,
      recoveries,
    });
    /** The JSON summary of a one-fault node-pause run on Galera (`extra`: the harness's restart counts). */
    const summaryOf = (
      history: ChaosHistory,
      extra: { rejoinRestarts?: number; failedRestarts: number },
    ): ReturnType<typeof summarize> =>
      summarize(
        {
          faults: 1,
          durationS: 60,
          seed: 1,
          candidates: 2,
          mix: [{ kind: 'node-pause', weight: 1 }],
          timing: TIMING,
          galera: true,
        },
        history,
        checkAll(history),
        { started: 'a', finished: 'b', interrupted: false, error: null, pids: [], ...extra },
      );
    /**
     * The same run without the recorded bootstrap, and with one commit at 26 s: no stall longer than
     * L + 15 s either (`outageWindows`), so nothing of the stall is left out.
     */
    const withoutRecovery = (lives: Life[]): ChaosHistory => ({
      ...run(lives, []),
      commits: [...commits, { node: 0, t: 26_000 }].sort((a, b) => a.t - b.t),
    });

    it('finds the time the cluster could not commit: from the last commit before the bootstrap to the first after', () => {
      expect(recoveryWindows(run([]))).toEqual([{ afterFault: 1, from: 12_000, to: 41_000 }]);
      expect(recoveryWindows(run([], [{ ...bootstrap, action: 'restart' }]))).toEqual([]);
    });

    it('judges the heal and the node loss from the moment the cluster commits again (without the recovery: both fail)', () => {
      // c0 loses its lease during the freeze (revoked at 13 s); c1 elected 1.5 s after the cluster commits again.
      const lives = [
        life('c0.0', [...leading(1, 1_000, 11_000), { type: 'revoked', term: 1, t: 13_000 }]),
        life('c1.0', leading(2, 42_500, 70_000)),
      ];
      const withRecovery = run(lives);
      const liveness = checkLiveness(withRecovery, beliefs(withRecovery));
      expect(liveness.violations).toEqual([]);
      expect(liveness.delays).toEqual([1_500]);
      expect(liveness.afterRecovery).toBe(1);
      const losses = checkNodeLosses(withRecovery, beliefs(withRecovery))!;
      expect(losses.violations).toEqual([]);
      // 12.2 s (c0's lease ran out) to 42.5 s without a leader, less the 28.8 s of it (to 41 s) without a
      // primary component.
      expect(losses.delays).toEqual([1_500]);
      // Without the recorded recovery the same run fails both checks.
      const without = withoutRecovery(lives);
      expect(checkLiveness(without, beliefs(without)).violations.map((v) => v.problem)).toEqual([
        'leader only 26800 ms after fault 1 (node-pause) healed at 15.700 s; bound 12000 ms',
      ]);
      expect(checkNodeLosses(without, beliefs(without))!.violations.map((v) => v.problem)).toEqual([
        'no leader for 30300 ms from 12.200 s during fault 1 (node-pause on the lease-node); bound 17000 ms',
      ]);
    });

    it('still catches a leader that comes too late after the cluster commits again', () => {
      const lives = [
        life('c0.0', [...leading(1, 1_000, 11_000), { type: 'revoked', term: 1, t: 13_000 }]),
        life('c1.0', leading(2, 60_000, 70_000)),
      ];
      const late = run(lives);
      expect(checkLiveness(late, beliefs(late)).violations.map((v) => v.problem)).toEqual([
        'leader only 19000 ms after the cluster committed again at 41.000 s (a primary component bootstrapped by the harness) after fault 1 (node-pause) healed at 15.700 s; bound 12000 ms',
      ]);
      expect(checkNodeLosses(late, beliefs(late))!.violations.map((v) => v.problem)).toEqual([
        'no leader for 19000 ms from 12.200 s during fault 1 (node-pause on the lease-node); bound 17000 ms (not counting 28800 ms in which the cluster could not commit: no primary component before a recovery, or no commit on any node for over 17000 ms)',
      ]);
    });

    describe('a cluster outage without a recovery: no commit on any node for over L + 15 s (fault 252 of run 4)', () => {
      const stallTo = (resumeAt: number) => [
        ...Array.from({ length: 61 }, (_, i) => ({ node: i % 3, t: i * 200 })),
        ...Array.from({ length: (70_000 - resumeAt) / 200 }, (_, i) => ({
          node: i % 3,
          t: resumeAt + i * 200,
        })),
      ];
      const stalledRun = (resumeAt: number, electedAt: number): ChaosHistory => ({
        ...run(
          [
            life('c0.0', [...leading(1, 1_000, 11_000), { type: 'revoked', term: 1, t: 13_000 }]),
            life('c1.0', leading(2, electedAt, 70_000)),
          ],
          [],
        ),
        commits: stallTo(resumeAt),
      });

      it('finds the outage: from the last commit before it to the first after', () => {
        expect(outageWindows(stalledRun(45_000, 45_500))).toEqual([
          { afterFault: 1, from: 12_000, to: 45_000 },
        ]);
        // 16 s without a commit is within what the library must ride out (L + 15 s = 17 s): no outage.
        expect(outageWindows(stalledRun(28_000, 28_500))).toEqual([]);
      });

      it('judges the heal and the node loss from the first commit after the outage', () => {
        const history = stalledRun(45_000, 45_500);
        const liveness = checkLiveness(history, beliefs(history));
        expect(liveness.violations).toEqual([]);
        expect(liveness.delays).toEqual([500]);
        expect(liveness.afterOutage).toBe(1);
        const losses = checkNodeLosses(history, beliefs(history))!;
        expect(losses.violations).toEqual([]);
        expect(losses.delays).toEqual([500]);
        const report = renderReport(summaryOf(history, { failedRestarts: 0 }));
        expect(report).toContain('- after fault 1: no commit from 12.0 s to 45.0 s (33000 ms).');
        expect(report).toContain('1 heals fell in a cluster outage (below: no commit on any node)');
      });

      it('still fails a stall the library must ride out (16 s, under L + 15 s) followed by a late leader', () => {
        const history = stalledRun(28_000, 28_500);
        expect(checkLiveness(history, beliefs(history)).violations.map((v) => v.problem)).toEqual([
          'leader only 12800 ms after fault 1 (node-pause) healed at 15.700 s; bound 12000 ms',
        ]);
      });

      it('still catches a leader that comes too late after the outage', () => {
        const history = stalledRun(45_000, 58_000);
        expect(checkLiveness(history, beliefs(history)).violations.map((v) => v.problem)).toEqual([
          'leader only 13000 ms after the cluster committed again at 45.000 s (no node committed for 33000 ms) after fault 1 (node-pause) healed at 15.700 s; bound 12000 ms',
        ]);
        // 13 s without a leader once the cluster commits again: within the 17 s node-loss bound.
        expect(checkNodeLosses(history, beliefs(history))!.delays).toEqual([13_000]);
      });
    });

    it('does not count a leader that was there at the heal but lost during the stall (passed before)', () => {
      // c0 still leads at the heal (15.7 s) but its lease runs out in the stall; nobody leads after it.
      const lives = [
        life('c0.0', [...leading(1, 1_000, 16_000), { type: 'revoked', term: 1, t: 17_600 }]),
        life('c1.0', leading(2, 60_000, 70_000)),
      ];
      const stalled = run(lives);
      expect(checkLiveness(stalled, beliefs(stalled)).violations.map((v) => v.fault)).toEqual([1]);
      const without = withoutRecovery(lives);
      expect(checkLiveness(without, beliefs(without)).violations).toEqual([]);
    });

    it('counts the recoveries in the JSON summary and the Markdown report, with when and why', () => {
      const restart: ClusterRecovery = {
        action: 'restart',
        afterFault: 1,
        at: 43_000,
        node: 0,
        reason: 'node 1 was down after fault 1 (its restart had failed)',
        ok: true,
      };
      const history = run(
        [
          life('c0.0', [...leading(1, 1_000, 11_000), { type: 'revoked', term: 1, t: 13_000 }]),
          life('c1.0', leading(2, 42_500, 70_000)),
        ],
        [bootstrap, restart],
      );
      const summary = summaryOf(history, { rejoinRestarts: 1, failedRestarts: 1 });
      expect(summary.clusterRecoveries).toEqual({
        count: 2,
        bootstraps: 1,
        restarts: 1,
        failedRestarts: 1,
        events: [
          { ...bootstrap, node: 3, noCommitFrom: 12_000, commitAgainAt: 41_000 },
          { ...restart, node: 1 },
        ],
        outages: { outageAfterMs: 17_000, windows: [{ afterFault: 1, from: 12_000, to: 41_000 }] },
      });
      expect(summary.liveness.afterRecovery).toBe(1);
      const report = renderReport(summary);
      expect(report).toContain(
        'Cluster recoveries: 2 (1 bootstraps of a primary component, 1 node restarts; 1 node starts at a heal failed).',
      );
      expect(report).toContain(
        '- after fault 1, at 40.0 s: bootstrap node 3; no commit from 12.0 s to 41.0 s (29000 ms). Why: no node committed',
      );
      expect(report).toContain(
        '- after fault 1, at 43.0 s: restart node 1. Why: node 1 was down after fault 1',
      );
      expect(report).toContain('1 heals were followed by a cluster recovery (below)');
    });
  });

  describe('on a real cluster left without a primary component', () => {
    let cluster: GaleraCluster | undefined;
    const commits: { node: number; t: number }[] = [];
    let probing = true;
    let probes: Promise<void>[] = [];
    const t0 = Date.now();
    const now = () => Date.now() - t0;

    /** The harness's commit probe, in small: an UPDATE of the node's row every 200 ms, 1 s deadline. */
    const probe = async (url: string, node: number) => {
      let conn: Connection | undefined;
      while (probing) {
        try {
          conn ??= await createConnection({ uri: url, connectTimeout: 1_000 });
          const current = conn;
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            current.query(`UPDATE probe SET v = v + 1 WHERE node = ${node}`),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('deadline')), 1_000);
            }),
          ]).finally(() => clearTimeout(timer));
          commits.push({ node, t: now() });
        } catch {
          conn?.destroy();
          conn = undefined;
        }
        await sleep(200);
      }
      conn?.destroy();
    };

    afterAll(async () => {
      probing = false;
      await Promise.all(probes);
      await cluster?.stop();
    });

    it('bootstraps one on the most advanced live node, restarts the killed node, and records both', async () => {
      cluster = await startGaleraCluster();
      const admin = await createConnection({ uri: cluster.urls[0] });
      await admin.query('CREATE TABLE probe (node INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB');
      await admin.query('INSERT INTO probe VALUES (0, 0), (1, 0), (2, 0)');
      await admin.end();
      probes = cluster.nodes.map((node, index) => probe(node.url, index));
      // What ended the second Galera run: node 2 frozen past the suspect timeout (nodes 1 and 3 go on as a
      // primary component of 2), resumed, and node 1 killed while node 2 still reports its old view: node 3
      // alone is not a majority of {1, 3}, and node 2 not yet back in. Nobody can commit, for good.
      cluster.nodes[1].pause();
      await sleep(7_000);
      cluster.nodes[1].resume();
      await cluster.nodes[0].kill();
      const lost = await nodeStates(cluster);
      const recoveries: ClusterRecovery[] = [];
      const started = now();
      await restoreCluster({
        cluster,
        commits,
        afterFault: 7,
        faultText: 'the planted freeze and kill',
        now,
        stopping: () => false,
        primaryWaitMs: 5_000,
        record: (recovery) => recoveries.push(recovery),
      });
      expect(lost[0].running).toBe(false);
      expect(recoveries.map((r) => [r.action, r.ok])).toEqual(
        expect.arrayContaining([
          ['bootstrap', true],
          ['restart', true],
        ]),
      );
      const boot = recoveries.find((r) => r.action === 'bootstrap')!;
      const advanced = mostAdvancedNode(lost.filter((s) => s.node !== 0));
      // The bootstrap went to a live node (2 or 3) with the highest last-committed seqno at the time.
      expect([1, 2]).toContain(boot.node);
      expect(lost[boot.node].status?.lastCommitted).toBe(advanced?.status?.lastCommitted);
      expect(recoveries.find((r) => r.action === 'restart')!.node).toBe(0);
      // Whole again: three nodes in one view, each committing after the recovery.
      const after = await nodeStates(cluster);
      expect(clusterWhole(after, commits, started)).toBe(true);
    }, 240_000);
  });
});
