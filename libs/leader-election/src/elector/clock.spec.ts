import { performance } from 'node:perf_hooks';
import { systemClock, timerDelay } from './clock';

describe('systemClock', () => {
  afterEach(() => jest.restoreAllMocks());

  it('arms Node timers in whole milliseconds, rounded up, so that a fractional delay does not wake the loop twice', () => {
    const armed = jest.spyOn(global, 'setTimeout');
    const handle = systemClock.setTimeout(() => undefined, 1996.4);
    systemClock.clearTimeout(handle);
    expect(armed).toHaveBeenCalledWith(expect.any(Function), 1997);
  });

  it('never fires before the fractional delay asked for', async () => {
    const start = performance.now();
    const firedAt = await new Promise<number>((resolve) =>
      systemClock.setTimeout(() => resolve(performance.now()), 5.6),
    );
    expect(firedAt - start).toBeGreaterThanOrEqual(5.6);
  });

  it('treats a delay already passed as due now', () => {
    expect(timerDelay(-3.2)).toBe(0);
    expect(timerDelay(0)).toBe(0);
    expect(timerDelay(0.01)).toBe(1);
  });
});
