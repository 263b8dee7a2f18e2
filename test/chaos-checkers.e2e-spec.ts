// The chaos harness's checkers (tools/chaos/checkers.ts) on hand-made histories: each one passes a clean
// history and catches a planted violation. Pure functions, no database.
import {
  beliefs,
  checkAll,
  checkBeliefOverlaps,
  checkLedger,
  checkLiveness,
  checkNodeLosses,
  checkRunOnce,
  checkTerms,
  clockOffset,
  closestHandover,
  longestCommitStall,
  longestLeaderless,
  type ChaosHistory,
  type FaultRecord,
  type Life,
  type LifeEvent,
} from '../tools/chaos/checkers';

// L = 2 s, M = 400 ms: a confirmation of a renewal sent at t gives validUntil = t + 1600.
const TIMING = { leaseMs: 2_000, renewMs: 400, pollMs: 400, marginMs: 400, operationTimeoutMs: 1_600 };

const lease = (term: number, tSend: number, confirmedAt = tSend + 5): LifeEvent => ({
  type: 'lease',
  term,
  t: confirmedAt,
  validUntil: tSend + TIMING.leaseMs - TIMING.marginMs,
});
const elected = (term: number, t: number): LifeEvent => ({ type: 'elected', term, t });
const revoked = (term: number, t: number): LifeEvent => ({ type: 'revoked', term, t });

/** A leader of `term` from `from` renewing every R until `until` (its last renewal sent before `until`). */
function leading(term: number, from: number, until: number): LifeEvent[] {
  const events: LifeEvent[] = [lease(term, from - 5, from), elected(term, from)];
  for (let t = from + TIMING.renewMs; t < until; t += TIMING.renewMs) events.push(lease(term, t));
  return events;
}

function life(id: string, events: LifeEvent[], extra: Partial<Life> = {}): Life {
  return {
    id,
    slot: Number(id[1]),
    candidateId: `holder-${id}`,
    startedAt: 0,
    readyAt: 0,
    exitedAt: null,
    skew: null,
    pauses: [],
    events,
    ...extra,
  };
}

function history(lives: Life[], extra: Partial<ChaosHistory> = {}): ChaosHistory {
  return { timing: TIMING, endedAt: 60_000, lives, faults: [], ledger: [], runs: null, ...extra };
}

/** A clean handover: c0 leads term 1 and is revoked at 4000; c1 takes term 2 at 4500 and leads to the end. */
function cleanHandover(): ChaosHistory {
  return history(
    [
      life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
      life('c1.0', [...leading(2, 4_500, 60_000)]),
    ],
    {
      ledger: [
        { id: 1, term: 1, holder: 'holder-c0.0' },
        { id: 2, term: 1, holder: 'holder-c0.0' },
        { id: 3, term: 2, holder: 'holder-c1.0' },
      ],
    },
  );
}

describe('chaos checkers', () => {
  describe('clock offset', () => {
    it('takes the smallest receive-minus-stamp difference, so converted times are never early', () => {
      // True offset 1000; deliveries took 3, 0.2 and 40 ms.
      const offset = clockOffset([
        { stamped: 10, received: 1_013 },
        { stamped: 20, received: 1_020.2 },
        { stamped: 30, received: 1_070 },
      ]);
      expect(offset).toBeCloseTo(1_000.2, 6);
    });
  });

  describe('(1) belief overlaps', () => {
    it('passes a handover where the new leader starts after the old one was revoked', () => {
      const result = checkBeliefOverlaps(beliefs(cleanHandover()));
      expect(result.violations).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.checked).toBe(2);
    });

    it('catches a new leader elected while the old one still believed it led', () => {
      const planted = history([
        life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
        life('c1.0', [...leading(2, 3_900, 10_000)]),
      ]);
      const result = checkBeliefOverlaps(beliefs(planted));
      expect(result.ok).toBe(false);
      expect(result.violations).toHaveLength(1);
      expect(result.violations[0].a.life).toBe('c0.0');
      expect(result.violations[0].b.life).toBe('c1.0');
      expect(result.violations[0].ms).toBeCloseTo(100, 6);
    });

    it("ends a paused leader's belief at its last renewal's validity, not at its late revoked line", () => {
      // c0 renews last at 2200 (sent), is paused from 2300 to 9000 and prints `revoked` only at 9010:
      // its belief ends at 2200 + L - M = 3800. c1 takes over at 4300: no overlap.
      const paused = life('c0.0', [...leading(1, 1_000, 2_300), revoked(1, 9_010)], {
        pauses: [{ from: 2_300, to: 9_000 }],
      });
      const spans = beliefs(history([paused, life('c1.0', leading(2, 4_300, 20_000))]));
      expect(spans.find((span) => span.life === 'c0.0')?.to).toBe(3_800);
      expect(checkBeliefOverlaps(spans).ok).toBe(true);
    });

    it('catches a takeover inside the validity of the last renewal a paused leader confirmed', () => {
      // Same pause, but c1 takes over at 3700, before c0's validity (3800) ran out.
      const paused = life('c0.0', [...leading(1, 1_000, 2_300), revoked(1, 9_010)]);
      const result = checkBeliefOverlaps(beliefs(history([paused, life('c1.0', leading(2, 3_700, 20_000))])));
      expect(result.ok).toBe(false);
      expect(result.violations[0].ms).toBeCloseTo(100, 6);
    });

    it('keeps a belief without lease confirmations until revoked, so that lost instrumentation hides nothing', () => {
      const spans = beliefs(history([life('c0.0', [elected(1, 1_000), revoked(1, 9_000)])]));
      expect(spans.map(({ from, to }) => [from, to])).toEqual([[1_000, 9_000]]);
    });

    it("ends a killed leader's belief at its exit", () => {
      const killed = life('c0.0', leading(1, 1_000, 60_000), { exitedAt: 2_000 });
      const spans = beliefs(history([killed]));
      expect(spans).toEqual([expect.objectContaining({ life: 'c0.0', from: 1_000, to: 2_000 })]);
    });

    it('starts a new span when a renewal is confirmed after the validity had run out', () => {
      // Renewals sent until 2200 (valid to 3800), then one confirmed at 6000: a gap from 3800 to 6000.
      const gap = life('c0.0', [...leading(1, 1_000, 2_300), lease(1, 5_990, 6_000), revoked(1, 6_500)]);
      const spans = beliefs(history([gap]));
      expect(spans.map(({ from, to }) => [from, to])).toEqual([
        [1_000, 3_800],
        [6_000, 6_500],
      ]);
    });
  });

  describe('(2) terms', () => {
    it('passes terms that rise with one holder each', () => {
      const result = checkTerms(cleanHandover());
      expect(result.ok).toBe(true);
      expect(result.checked).toBe(2);
    });

    it('catches a term granted after a higher one', () => {
      const planted = history([
        life('c0.0', leading(5, 1_000, 2_000)),
        life('c1.0', leading(4, 9_000, 10_000)),
      ]);
      const result = checkTerms(planted);
      expect(result.ok).toBe(false);
      expect(result.violations[0].problem).toMatch(/term 4 granted to c1\.0 .* after term 5/);
    });

    it('catches one term granted to two processes', () => {
      const planted = history([
        life('c0.0', leading(3, 1_000, 2_000)),
        life('c1.0', leading(3, 9_000, 10_000)),
      ]);
      const result = checkTerms(planted);
      expect(result.ok).toBe(false);
      expect(result.violations.map((v) => v.problem)).toContain('term 3 held by c0.0 and by c1.0');
    });
  });

  describe('(3) fenced ledger', () => {
    it('passes a ledger whose terms never fall, one writer per term, the holder of that term', () => {
      const result = checkLedger(cleanHandover());
      expect(result.ok).toBe(true);
      expect(result.checked).toBe(3);
    });

    it('catches a row of an older term committed after a newer one', () => {
      const planted = {
        ...cleanHandover(),
        ledger: [...cleanHandover().ledger, { id: 4, term: 1, holder: 'holder-c0.0' }],
      };
      const result = checkLedger(planted);
      expect(result.ok).toBe(false);
      expect(result.violations).toEqual([{ id: 4, problem: 'row 4 has term 1 after row 3 with term 2' }]);
    });

    it('catches two writers under one term', () => {
      const planted = {
        ...cleanHandover(),
        ledger: [...cleanHandover().ledger, { id: 4, term: 2, holder: 'holder-c0.0' }],
      };
      const problems = checkLedger(planted).violations.map((v) => v.problem);
      expect(problems).toContain('term 2 written by holder-c1.0 and by holder-c0.0');
      expect(problems).toContain('row 4: term 2 written by holder-c0.0, granted to holder-c1.0');
    });

    it('fails a ledger that could not be read at the end of the run (an empty one proves nothing)', () => {
      const unread = { ...cleanHandover(), ledger: [], ledgerUnread: 'no answer within 20000 ms' };
      const result = checkLedger(unread);
      expect(result.ok).toBe(false);
      expect(result.violations).toEqual([
        { id: 0, problem: 'the ledger could not be read: no answer within 20000 ms' },
      ]);
    });
  });

  describe('(4) run once', () => {
    it('is not judged when the history has no runs', () => {
      expect(checkRunOnce(cleanHandover())).toBeNull();
    });

    it('passes occurrences run once each, and catches one run twice', () => {
      const runs = [
        { job: 'report', occurrence: '2026-01-01T00:00:00Z', term: 1, holder: 'a' },
        { job: 'report', occurrence: '2026-01-01T00:01:00Z', term: 2, holder: 'b' },
      ];
      expect(checkRunOnce(history([], { runs }))?.ok).toBe(true);
      const planted = checkRunOnce(history([], { runs: [...runs, { ...runs[0], term: 2, holder: 'b' }] }));
      expect(planted?.ok).toBe(false);
      expect(planted?.violations[0].problem).toMatch(/run twice: term 1 \(a\) and term 2 \(b\)/);
    });
  });

  describe('(5) leader after heal', () => {
    const fault = (n: number, healedAt: number): FaultRecord => ({
      n,
      kind: 'kill',
      target: 'leader',
      slot: 0,
      params: {},
      at: healedAt - 500,
      healedAt,
    });

    it('passes heals followed by a leader within L + P + tolerance', () => {
      // Heal at 2000 (c0 still leads: 0 ms), heal at 4200 (c1 elected at 4500: 300 ms).
      const clean = { ...cleanHandover(), faults: [fault(1, 2_000), fault(2, 4_200)] };
      const result = checkLiveness(clean, beliefs(clean), 500);
      expect(result.ok).toBe(true);
      expect(result.delays).toEqual([0, 300]);
      expect(result.boundMs).toBe(2_000 + 400 + 500);
    });

    it('catches a heal after which no leader came within the bound', () => {
      // c0 revoked at 4000, c1 elected only at 9000: heal at 4000 waits 5000 ms > 2900 ms.
      const planted = history(
        [
          life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
          life('c1.0', leading(2, 9_000, 60_000)),
        ],
        { faults: [fault(1, 4_000)] },
      );
      const result = checkLiveness(planted, beliefs(planted), 500);
      expect(result.ok).toBe(false);
      expect(result.violations[0].problem).toBe(
        'leader only 5000 ms after fault 1 (kill) healed at 4.000 s; bound 2900 ms',
      );
    });

    it('measures from the moment a candidate is up when every other one was still booting at the heal', () => {
      // c0 (leader) killed at 3000 and restarted at 3300 (the heal); c1 was restarted at 2900 and is up
      // (bootstrapped) only at 7000, elected at 7200: 200 ms after a candidate could take over (3900 ms
      // after the heal, above L + P + 500).
      const booting = history(
        [
          life('c0.0', leading(1, 1_000, 3_000), { exitedAt: 3_000 }),
          life('c1.1', leading(2, 7_200, 60_000), { startedAt: 2_900, readyAt: 7_000 }),
          life('c0.1', [], { startedAt: 3_300, readyAt: 8_000 }),
        ],
        { faults: [fault(1, 3_300)] },
      );
      const result = checkLiveness(booting, beliefs(booting), 500);
      expect(result.violations).toEqual([]);
      expect(result.delays).toEqual([200]);
      expect(result.waitedForBoot).toBe(1);
    });

    it('judges a fault by its own bound when it has one (a lease-node loss on Galera: L + 10 s)', () => {
      // c0 revoked at 4000, c1 elected at 9000: 5000 ms after the heal at 4000. Within the fault's own
      // 12000 ms; the same delay after a fault without its own bound is late (2900 ms).
      const lives = [
        life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
        life('c1.0', leading(2, 9_000, 60_000)),
      ];
      const leaseNodeLoss = { ...fault(1, 4_000), kind: 'node-kill', target: 'lease-node', boundMs: 12_000 };
      const own = history(lives, { faults: [leaseNodeLoss] });
      const ownResult = checkLiveness(own, beliefs(own), 500);
      expect(ownResult.violations).toEqual([]);
      expect(ownResult.perBound).toEqual([{ boundMs: 12_000, checked: 1, maxMs: 5_000 }]);
      const other = history(lives, {
        faults: [{ ...leaseNodeLoss, target: 'other-node', boundMs: undefined }],
      });
      const otherResult = checkLiveness(other, beliefs(other), 500);
      expect(otherResult.violations.map((violation) => violation.boundMs)).toEqual([2_900]);
    });

    it('does not judge a heal too close to the end of the run', () => {
      const late = history([life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)])], {
        endedAt: 5_000,
        faults: [fault(1, 4_500)],
      });
      const result = checkLiveness(late, beliefs(late), 500);
      expect(result.ok).toBe(true);
      expect(result.unjudged).toBe(1);
    });
  });

  describe('(6) leader while a Galera node is lost', () => {
    const nodeFault = (at: number, healedAt: number): FaultRecord => ({
      n: 1,
      kind: 'node-pause',
      target: 'lease-node',
      slot: null,
      node: 0,
      params: {},
      at,
      healedAt,
      lossBoundMs: 12_000,
    });

    it('is not judged when no fault has a loss bound (one server)', () => {
      const clean = cleanHandover();
      expect(checkNodeLosses(clean, beliefs(clean))).toBeNull();
    });

    it('passes a leader that came back within the bound of the loss, while the node was still lost', () => {
      // Node lost at 3000; c0's belief ends at 4000 (revoked), c1 elected at 14000: 10000 ms without a
      // leader (11000 ms after the loss), while the node came back only at 20000.
      const lost = history(
        [
          life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
          life('c1.0', leading(2, 14_000, 60_000)),
        ],
        { faults: [nodeFault(3_000, 20_000)] },
      );
      const result = checkNodeLosses(lost, beliefs(lost))!;
      expect(result.violations).toEqual([]);
      expect(result.delays).toEqual([10_000]);
    });

    it('catches a gap without a leader that began during the loss and lasted past the bound', () => {
      // Node lost at 3000; c0's belief ends at 4000; c1 only at 17000: 13000 ms without a leader.
      const planted = history(
        [
          life('c0.0', [...leading(1, 1_000, 3_000), revoked(1, 4_000)]),
          life('c1.0', leading(2, 17_000, 60_000)),
        ],
        { faults: [nodeFault(3_000, 8_000)] },
      );
      const result = checkNodeLosses(planted, beliefs(planted))!;
      expect(result.ok).toBe(false);
      expect(result.violations[0].problem).toBe(
        'no leader for 13000 ms from 4.000 s during fault 1 (node-pause on the lease-node); bound 12000 ms',
      );
    });

    it('measures a gap that began after the loss from its own start', () => {
      // c0 keeps leading 8 s into the loss (its traffic moved to a node that works), then loses it: no
      // leader from 11000 (revoked) to 22000, 11000 ms; 19000 ms after the loss, within the bound per gap.
      const later = history(
        [
          life('c0.0', [...leading(1, 1_000, 11_000), revoked(1, 11_000)]),
          life('c1.0', leading(2, 22_000, 60_000)),
        ],
        { faults: [nodeFault(3_000, 15_000)] },
      );
      const result = checkNodeLosses(later, beliefs(later))!;
      expect(result.violations).toEqual([]);
      expect(result.delays).toEqual([11_000]);
    });
  });

  it("finds the Galera commit probe's longest time without a commit on any node, from before the window and to its end", () => {
    // Commits on nodes 0 and 1; none from 2200 to 8000 on either.
    const commits = [0, 200, 400, 2_000, 2_200, 8_000, 8_200].map((t, i) => ({ node: i % 2, t }));
    expect(longestCommitStall(commits, 0, 10_000)).toEqual({ from: 2_200, ms: 5_800 });
    expect(longestCommitStall(commits, 5_000, 10_000)).toEqual({ from: 2_200, ms: 5_800 });
    // Still going at the end of the window: counted until then.
    expect(longestCommitStall(commits, 0, 1_000)).toEqual({ from: 400, ms: 600 });
    expect(longestCommitStall(commits, 0, 40_000)).toEqual({ from: 8_200, ms: 31_800 });
    expect(longestCommitStall([], 0, 1_000)).toBeNull();
  });

  it('finds the longest time no belief covers', () => {
    // c0 believes 1000..4000 (revoked before its last renewal, sent at 2600, ran out at 4200), c1 from
    // 4500: 500 ms without a leader.
    const gap = longestLeaderless(beliefs(cleanHandover()), 1_000, 60_000);
    expect(gap).toEqual({ from: 4_000, ms: 500 });
  });

  it('finds the closest handover between two processes, ignoring one process re-elected', () => {
    const spans = beliefs(
      history([
        life('c0.0', [
          ...leading(1, 1_000, 3_000),
          revoked(1, 4_000),
          ...leading(2, 4_010, 5_000),
          revoked(2, 5_500),
        ]),
        life('c1.0', leading(3, 5_800, 60_000)),
      ]),
    );
    expect(closestHandover(spans)).toEqual(expect.objectContaining({ ms: 300 }));
  });

  it('checkAll runs every checker over one history', () => {
    const results = checkAll(cleanHandover());
    expect([results.overlaps.ok, results.terms.ok, results.ledger.ok, results.liveness.ok]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(results.runOnce).toBeNull();
  });
});
