import { FakeClock } from '../../testing/fake-clock';
import { MemoryLeaseStore } from '../../testing/memory-lease-store';
import { StepRound, type RoundJob, type RoundMember, type RoundOutcome, type RoundStore } from './step-round';

// StepRound on the in-memory store and a fake clock: the members are stand-ins for elections' step loops.

const L = 10_000;
const LATENCY = 100;

function setup() {
  const clock = new FakeClock();
  const memory = new MemoryLeaseStore(clock, { batching: true, latencyMs: LATENCY });
  const round = new StepRound(clock, memory as RoundStore, 'x', L);
  const member = (name: string, job: RoundJob | undefined) => {
    const settled: RoundOutcome[] = [];
    let done: Promise<void> | undefined;
    const m: RoundMember & { settled: RoundOutcome[]; done: () => Promise<void> | undefined } = {
      name,
      settled,
      done: () => done,
      roundDue: (whenDone) => {
        done = whenDone;
        return job;
      },
      settle: (outcome) => settled.push(outcome),
    };
    return m;
  };
  return { clock, memory, round, member };
}

describe('StepRound (fake clock, in-memory lease store)', () => {
  it('members planned for one grid point share one timer, one renewal and one read', async () => {
    const { clock, memory, round, member } = setup();
    for (const name of ['a', 'b', 'c']) memory.seed(name, { holder: 'x', term: 1, expiresInMs: L });
    const members = [
      member('a', { kind: 'renew', name: 'a', term: 1 }),
      member('b', { kind: 'renew', name: 'b', term: 1 }),
      member('c', { kind: 'read' }),
      member('d', undefined), // runs a step of its own: not in the statements
    ];
    const timers = jest.spyOn(clock, 'setTimeout');
    members.forEach((m) => round.add(m, 2_000));
    expect(timers).toHaveBeenCalledTimes(1);
    expect(round.planned).toBe(1);
    await clock.advance(2_000 + LATENCY);
    expect(memory.find().map((s) => [s.kind, s.names])).toEqual([
      ['renewMany', ['a', 'b']],
      ['readMany', ['c']],
    ]);
    expect(members[0].settled).toEqual([{ kind: 'renewed', renewed: true, tSend: 2_000 }]);
    expect(members[1].settled).toEqual(members[0].settled);
    expect(members[2].settled).toEqual([
      { kind: 'read', row: expect.objectContaining({ holder: 'x', term: 1 }) },
    ]);
    expect(members[3].settled).toEqual([]);
    // Every member that joined waits on the same promise, resolved once all answers were handed out.
    await expect(members[0].done()).resolves.toBeUndefined();
    expect(members[0].done()).toBe(members[2].done());
    expect(round.planned).toBe(0);
  });

  it('a renewal that misses one lease of the batch sends every member back to a step of its own (retry)', async () => {
    const { clock, memory, round, member } = setup();
    memory.seed('a', { holder: 'x', term: 1, expiresInMs: L });
    memory.seed('b', { holder: 'z', term: 2, expiresInMs: L }); // taken over
    const members = [
      member('a', { kind: 'renew', name: 'a', term: 1 }),
      member('b', { kind: 'renew', name: 'b', term: 1 }),
    ];
    members.forEach((m) => round.add(m, 500));
    await clock.advance(500 + LATENCY);
    expect(members.map((m) => m.settled)).toEqual([[{ kind: 'retry' }], [{ kind: 'retry' }]]);
  });

  it('a failed statement is handed to every member that joined it', async () => {
    const { clock, memory, round, member } = setup();
    memory.seed('a', { holder: 'x', term: 1, expiresInMs: L });
    memory.failNext(1, 'outcome-unknown', { match: { kind: 'renewMany' } });
    const members = [
      member('a', { kind: 'renew', name: 'a', term: 1 }),
      member('b', { kind: 'renew', name: 'b', term: 1 }),
    ];
    members.forEach((m) => round.add(m, 500));
    await clock.advance(500 + LATENCY);
    for (const m of members) {
      expect(m.settled).toEqual([
        { kind: 'failed', error: expect.objectContaining({ kind: 'outcome-unknown' }) },
      ]);
    }
  });

  it('a member taken out of its round is not in it; the last one out clears the timer', async () => {
    const { clock, memory, round, member } = setup();
    memory.seed('a', { holder: 'x', term: 1, expiresInMs: L });
    const a = member('a', { kind: 'read' });
    const b = member('b', { kind: 'read' });
    round.add(a, 1_000);
    round.add(b, 1_000);
    round.remove(b, 1_000);
    await clock.advance(1_000 + LATENCY);
    expect(memory.find().map((s) => s.names)).toEqual([['a']]);
    expect(b.settled).toEqual([]);
    round.add(a, 3_000);
    round.remove(a, 3_000);
    expect(round.planned).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });
});
