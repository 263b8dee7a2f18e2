import { doorbellLockName } from './mysql-doorbell';

describe('doorbellLockName', () => {
  const long = (c: string) => c.repeat(64);

  it('names the database, the table and the election, and keeps every name within the 64-character limit', () => {
    expect(doorbellLockName('billing', 'leader_election_lease', 'default')).toBe(
      'billing.leader_election_lease:default',
    );
    const names = [
      doorbellLockName(long('a'), 'leader_election_lease', 'default'),
      doorbellLockName(long('b'), 'leader_election_lease', 'default'),
      doorbellLockName(long('a'), 'leader_election_lease', long('e')),
      doorbellLockName(long('a'), long('t'), 'default'),
    ];
    for (const name of names) expect(name.length).toBeLessThanOrEqual(64);
    expect(new Set(names).size).toBe(names.length);
  });
});
