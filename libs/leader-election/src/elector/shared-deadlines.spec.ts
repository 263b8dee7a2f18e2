import { FakeClock } from '../../testing/fake-clock';
import { SharedDeadlines } from './shared-deadlines';

// SharedDeadlines on a fake clock: the callbacks stand in for elections' step-down at their deadline.

describe('SharedDeadlines', () => {
  it('callbacks due at the same time share one timer and all run at that time; another time gets its own', async () => {
    const clock = new FakeClock();
    const deadlines = new SharedDeadlines(clock);
    const ran: string[] = [];
    const spy = jest.spyOn(clock, 'setTimeout');
    for (const name of ['a', 'b', 'c']) deadlines.add(9_000, () => ran.push(`${name}@${clock.now()}`));
    deadlines.add(9_500, () => ran.push(`d@${clock.now()}`));
    expect(spy).toHaveBeenCalledTimes(2);
    expect(deadlines.timers).toBe(2);

    await clock.advance(8_999);
    expect(ran).toEqual([]);
    await clock.advance(1);
    expect(ran).toEqual(['a@9000', 'b@9000', 'c@9000']);
    await clock.advance(500);
    expect(ran).toEqual(['a@9000', 'b@9000', 'c@9000', 'd@9500']);
    expect(deadlines.timers).toBe(0);
  });

  it('a removed callback never runs, and the timer goes with the last callback of its time', async () => {
    const clock = new FakeClock();
    const deadlines = new SharedDeadlines(clock);
    const ran: string[] = [];
    const a = deadlines.add(1_000, () => ran.push('a'));
    const b = deadlines.add(1_000, () => ran.push('b'));
    deadlines.remove(a);
    expect(deadlines.timers).toBe(1);
    deadlines.remove(b);
    deadlines.remove(b); // twice: nothing more happens
    expect(deadlines.timers).toBe(0);
    expect(clock.nextDueAt()).toBeUndefined();
    await clock.advance(2_000);
    expect(ran).toEqual([]);
  });

  it('a callback that throws does not keep the others of its time from running; the error still surfaces', async () => {
    const clock = new FakeClock();
    const deadlines = new SharedDeadlines(clock);
    const ran: string[] = [];
    deadlines.add(100, () => {
      throw new Error('first');
    });
    deadlines.add(100, () => ran.push('second'));
    const fire = clock.advance(100);
    await expect(fire).rejects.toThrow('first');
    expect(ran).toEqual(['second']);
  });

  it('a callback may plan itself again at the same time while its group runs (a timer that fired early)', async () => {
    const clock = new FakeClock();
    const deadlines = new SharedDeadlines(clock);
    let runs = 0;
    const again = () => {
      runs++;
      if (runs === 1) deadlines.add(500, again);
    };
    deadlines.add(500, again);
    await clock.advance(500);
    await clock.advance(1);
    expect(runs).toBe(2);
    expect(deadlines.timers).toBe(0);
  });
});
