import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HandoverSignals } from './leader-election.signals';

// The signal is emitted on `process` (a synthetic delivery): listeners run exactly as for a real one.
describe('HandoverSignals', () => {
  const watches: HandoverSignals[] = [];
  const others: [NodeJS.Signals, () => void][] = [];
  const watch = (onSignal: () => void) => {
    const signals = new HandoverSignals(onSignal);
    watches.push(signals);
    return signals;
  };
  const otherListener = (signal: NodeJS.Signals, listener: () => void) => {
    others.push([signal, listener]);
    process.on(signal, listener);
  };
  afterEach(() => {
    for (const signals of watches.splice(0)) signals.stop();
    for (const [signal, listener] of others.splice(0)) process.removeListener(signal, listener);
  });

  it('listens to no signal the process does not handle otherwise', () => {
    const before = process.listenerCount('SIGTERM');
    watch(() => undefined).start();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('goes ahead of a listener that was there before start', () => {
    const order: string[] = [];
    otherListener('SIGTERM', () => order.push('earlier'));
    watch(() => order.push('handover')).start();

    process.emit('SIGTERM', 'SIGTERM');
    expect(order).toEqual(['handover', 'earlier']);
  });

  it('goes ahead of a listener added after start (as app.enableShutdownHooks() after bootstrap)', () => {
    const order: string[] = [];
    watch(() => order.push('handover')).start();
    otherListener('SIGINT', () => order.push('nest'));
    process.emit('SIGINT', 'SIGINT');
    expect(order).toEqual(['handover', 'nest']);
  });

  it('acts once: its listeners are gone after the first signal, and after stop()', () => {
    let calls = 0;
    otherListener('SIGTERM', () => undefined);
    const signals = watch(() => calls++);
    signals.start();
    const withIt = process.listenerCount('SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(calls).toBe(1);
    expect(process.listenerCount('SIGTERM')).toBe(withIt - 1);

    const stopped = watch(() => calls++);
    stopped.start();
    stopped.stop();
    otherListener('SIGTERM', () => undefined);
    process.emit('SIGTERM', 'SIGTERM');
    expect(calls).toBe(1);
  });

  it('adds one listener per signal however many applications watch, and a signal reaches them all', () => {
    let fired = 0;
    otherListener('SIGTERM', () => undefined);
    const sigterm = process.listenerCount('SIGTERM');
    const newListener = process.listenerCount('newListener');
    for (let i = 0; i < 15; i++) watch(() => fired++).start();
    expect(process.listenerCount('SIGTERM')).toBe(sigterm + 1);
    expect(process.listenerCount('newListener')).toBe(newListener + 1);
    otherListener('SIGINT', () => undefined);
    expect(process.listenerCount('SIGINT')).toBe(2);

    process.emit('SIGTERM', 'SIGTERM');
    expect(fired).toBe(15);
    expect(process.listenerCount('SIGTERM')).toBe(sigterm);
    expect(process.listenerCount('newListener')).toBe(newListener);
  });

  it('left alone with the signal (the other listener went away), it lets the signal end the process as without it', () => {
    const script = [
      `const { HandoverSignals } = require(${JSON.stringify(join(__dirname, 'leader-election.signals.ts'))});`,
      'const other = () => undefined;',
      "process.on('SIGTERM', other);",
      "new HandoverSignals(() => console.log('handover')).start();",
      "process.removeListener('SIGTERM', other);",
      "process.kill(process.pid, 'SIGTERM');",
      'setTimeout(() => console.log("still alive"), 2000);',
    ].join('\n');
    const register = join(__dirname, '..', '..', '..', 'tools', 'register-ts.js');
    const result = spawnSync(process.execPath, ['-r', register, '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.signal).toBe('SIGTERM');
    expect(result.stdout).not.toContain('still alive');
    expect(result.stdout).not.toContain('handover');
  });
});
