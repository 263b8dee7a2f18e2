import { ElectorHarnesses } from '../../testing/elector-harness';
import { assignShares, balancedElectionNames, memberRowName } from './balanced-group';
import type { ElectionTiming, ElectorLogger } from './election-state';
import { LeaderElector } from './leader-elector';

const names = balancedElectionNames({ prefix: 'shard-', count: 64 });

function counts(owners: Map<string, string>): Record<string, number> {
  const result: Record<string, number> = {};
  for (const owner of owners.values()) result[owner] = (result[owner] ?? 0) + 1;
  return result;
}

describe('assignShares', () => {
  it('gives 4 members 16 shards each from an empty table', () => {
    const owners = assignShares(names, ['a', 'b', 'c', 'd'], () => null);
    expect(counts(owners)).toEqual({ a: 16, b: 16, c: 16, d: 16 });
  });

  it("moves only a dead member's shards, 22/21/21, when one of 4 is gone", () => {
    const before = assignShares(names, ['a', 'b', 'c', 'd'], () => null);
    const after = assignShares(names, ['a', 'b', 'c'], (name) => before.get(name)!);
    expect(Object.values(counts(after)).sort()).toEqual([21, 21, 22]);
    for (const name of names) {
      if (before.get(name) !== 'd') expect(after.get(name)).toBe(before.get(name));
    }
  });

  it('hands a joining member only the excess of the others', () => {
    const three = assignShares(names, ['a', 'b', 'c'], () => null);
    const four = assignShares(names, ['a', 'b', 'c', 'd'], (name) => three.get(name)!);
    expect(counts(four)).toEqual({ a: 16, b: 16, c: 16, d: 16 });
    const moved = names.filter((name) => four.get(name) !== three.get(name));
    expect(moved).toHaveLength(16);
    expect(moved.every((name) => four.get(name) === 'd')).toBe(true);
  });

  it('ignores holders that are not live members, and assigns nothing without members', () => {
    const owners = assignShares(names, ['a', 'b'], () => 'gone');
    expect(counts(owners)).toEqual({ a: 32, b: 32 });
    expect(assignShares(names, [], () => null).size).toBe(0);
  });
});

describe('memberRowName', () => {
  it('is fixed in length and distinct per candidate', () => {
    const one = memberRowName('shard-', 'host:1:aaaa');
    const two = memberRowName('shard-', 'host:1:aaab');
    expect(one).not.toBe(two);
    expect(one).toMatch(/^shard-~member~[0-9a-f]{16}$/);
  });
});

describe('balanced group on the fake clock (4 candidates, 64 shards)', () => {
  const TIMING: ElectionTiming = {
    leaseDurationMs: 10_000,
    renewIntervalMs: 2_000,
    pollIntervalMs: 2_000,
    safetyMarginMs: 1_000,
  };
  const L = TIMING.leaseDurationMs;
  const silent: ElectorLogger = { log: () => {}, warn: () => {}, error: () => {} };
  const harnesses = new ElectorHarnesses();
  afterEach(() => harnesses.assertNoViolations());

  function setup() {
    const h = harnesses.create({ timing: TIMING, store: { latencyMs: 2, batching: true } });
    const group = { prefix: 's-', count: 64 };
    const start = (id: string) => {
      const clock = h.clock.process();
      const elector = new LeaderElector({
        store: h.store,
        elections: balancedElectionNames(group),
        balanced: [group],
        candidateId: id,
        timing: TIMING,
        createTable: true,
        logger: silent,
        clock,
        random: () => 0.5,
      });
      h.watchElector(id, elector);
      elector.start();
      return { elector, clock, led: () => elector.balancedGroup('s-')!.led().length };
    };
    const total = (members: { elector: LeaderElector }[]) =>
      new Set(members.flatMap((m) => m.elector.balancedGroup('s-')!.led())).size;
    return { h, start, total };
  }

  it('leads 16 each; after a crash the others lead all 64 within L + 1 s, 21 to 22 each; a joiner gets 16', async () => {
    const { h, start, total } = setup();
    const four = ['a', 'b', 'c', 'd'].map(start);
    await h.clock.advance(3 * TIMING.pollIntervalMs);
    expect(four.map((m) => m.led())).toEqual([16, 16, 16, 16]);

    const [victim, ...survivors] = four;
    victim.clock.pause(); // a crash: no more renewals, no release
    const crashedAt = h.clock.now();
    while (total(survivors) < 64 && h.clock.now() - crashedAt < 3 * L) await h.clock.advance(50);
    expect(total(survivors)).toBe(64);
    expect(h.clock.now() - crashedAt).toBeLessThanOrEqual(L + 1_000);
    await h.clock.advance(2 * TIMING.pollIntervalMs);
    expect(survivors.map((m) => m.led()).sort()).toEqual([21, 21, 22]);

    const joiner = start('e');
    await h.clock.advance(4 * TIMING.pollIntervalMs);
    expect([...survivors, joiner].map((m) => m.led())).toEqual([16, 16, 16, 16]);
    expect(total([...survivors, joiner])).toBe(64);
    // Steady: one read of the member rows per P per candidate (the shards' reads are batched apart).
    const before = h.store.find({ kind: 'readPrefix' }).length;
    await h.clock.advance(5 * TIMING.pollIntervalMs);
    expect(h.store.find({ kind: 'readPrefix' }).length - before).toBeLessThanOrEqual(4 * 6);
  });
});

describe('balanced group: a shard its owner cannot take', () => {
  const TIMING: ElectionTiming = {
    leaseDurationMs: 10_000,
    renewIntervalMs: 2_000,
    pollIntervalMs: 2_000,
    safetyMarginMs: 1_000,
  };
  const L = TIMING.leaseDurationMs;
  const silent: ElectorLogger = { log: () => {}, warn: () => {}, error: () => {} };
  const harnesses = new ElectorHarnesses();
  afterEach(() => harnesses.assertNoViolations());

  it('is taken by another member after L unheld, and kept there (no hand-back loop)', async () => {
    const h = harnesses.create({ timing: TIMING, store: { latencyMs: 2, batching: true } });
    const group = { prefix: 's-', count: 4 };
    const electors = ['a', 'b'].map((id) => {
      const elector = new LeaderElector({
        store: h.store,
        elections: balancedElectionNames(group),
        balanced: [group],
        candidateId: id,
        timing: TIMING,
        createTable: true,
        logger: silent,
        clock: h.clock.process(),
        random: () => 0.5,
      });
      h.watchElector(id, elector);
      return elector;
    });
    // 'b' can never acquire s-3 (say, its statements for that shard are refused).
    h.store.failNext(1_000_000, 'not-applied', { match: { kind: 'acquire', holder: 'b', name: 's-3' } });
    electors.forEach((elector) => elector.start());
    await h.clock.advance(3 * TIMING.pollIntervalMs);
    const leaderOf = (name: string) =>
      electors.find((elector) => elector.election(name)?.isLeader())?.candidateId ?? null;
    // Before L: b owns s-3 by the assignment but cannot take it; a leaves it alone.
    const owners = assignShares(balancedElectionNames(group), ['a', 'b'], () => null);
    expect(owners.get('s-3')).toBe('b');
    expect(leaderOf('s-3')).toBeNull();

    await h.clock.advance(L + 2 * TIMING.pollIntervalMs);
    expect(leaderOf('s-3')).toBe('a');
    // Kept by a over several lease periods, while every other shard still has a leader.
    for (let i = 0; i < 5; i++) {
      await h.clock.advance(L);
      expect(leaderOf('s-3')).toBe('a');
      expect(['s-0', 's-1', 's-2'].every((name) => leaderOf(name) !== null)).toBe(true);
    }
  });
});
