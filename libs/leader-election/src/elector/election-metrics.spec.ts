import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { transitionReason } from './election-metrics';

describe('transitionReason (the reason attribute of leader_election_transitions)', () => {
  it('maps each way leadership ends onto its own reason', () => {
    expect(transitionReason('the lease was lost (expired or taken over)')).toBe('lease-lost');
    expect(transitionReason('the lease could not be renewed before it ran out')).toBe('renewal-deadline');
    expect(transitionReason('a lease statement failed (outcome-unknown): socket closed')).toBe(
      'statement-failed',
    );
    expect(transitionReason('resigned')).toBe('resigned');
    expect(transitionReason('resigned, handing over to pod-b')).toBe('handed-over');
    expect(transitionReason('the application is shutting down')).toBe('shutdown');
    expect(transitionReason('the election was stopped')).toBe('stopped');
    expect(transitionReason('something new')).toBe('other');
  });

  it('every reason the elector passes to endLeadership() has a reason of its own, not "other"', () => {
    const reasons: string[] = [];
    for (const file of readdirSync(__dirname)) {
      if (!file.endsWith('.ts') || file.endsWith('.spec.ts')) continue;
      const source = readFileSync(join(__dirname, file), 'utf8');
      for (const match of source.matchAll(/endLeadership\(\s*(['`])((?:(?!\1).)*)\1/g))
        reasons.push(match[2]);
    }
    expect(reasons.length).toBeGreaterThanOrEqual(6);
    expect(reasons.filter((reason) => transitionReason(reason) === 'other')).toEqual([]);
  });
});
