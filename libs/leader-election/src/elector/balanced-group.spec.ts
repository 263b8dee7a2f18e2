import { assignShares, balancedElectionNames, memberRowName } from './balanced-group';

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
