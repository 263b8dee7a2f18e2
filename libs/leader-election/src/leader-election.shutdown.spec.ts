import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { FakeClock, runTimers, runTimersUntil } from '../testing/fake-clock';
import { MemoryLeaseStore } from '../testing/memory-lease-store';
import { startMemoryNestApp } from '../testing/nest-app';

const L = 10_000;
/** How long the application's own shutdown work takes. */
const APP_SHUTDOWN_MS = 5_000;

/** The application's own shutdown work (flushing a queue, closing a consumer): slow, and unrelated. */
@Injectable()
class SlowShutdown implements BeforeApplicationShutdown {
  startedAt: number | undefined;
  constructor(readonly clock: FakeClock) {}
  async beforeApplicationShutdown(): Promise<void> {
    this.startedAt = this.clock.now();
    await new Promise<void>((resolve) => this.clock.setTimeout(resolve, APP_SHUTDOWN_MS));
  }
}

describe('Shutdown order (Nest layer on the in-memory store)', () => {
  it("releases the lease as soon as app.close() begins, without waiting for other providers' beforeApplicationShutdown work", async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore(clock, { latencyMs: 2 });
    const slow = new SlowShutdown(clock);
    const app = await startMemoryNestApp({
      store,
      clock,
      label: 'a',
      providers: [{ provide: SlowShutdown, useValue: slow }],
    });
    await runTimersUntil(
      clock,
      () => app.service.isLeader(),
      L,
      'a to lead',
      () => undefined,
    );

    const closedAt = clock.now();
    const closing = app.close();
    await runTimers(clock, APP_SHUTDOWN_MS + 100, () => undefined);
    await closing;
    const [release] = store.find({ kind: 'release' });
    expect(slow.startedAt).toBeDefined();
    // Released within a few round trips of close(), long before the application's own work ended.
    expect(release.executedAt! - closedAt).toBeLessThan(50);
  });

  it('on a SIGTERM the process handles, with nothing to drain, the release is sent before the next SIGTERM listener runs', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore(clock, { latencyMs: 2 });
    const app = await startMemoryNestApp({ store, clock, label: 'a' });
    await runTimersUntil(
      clock,
      () => app.service.isLeader(),
      L,
      'a to lead',
      () => undefined,
    );
    // Stands for Nest's own listener (app.enableShutdownHooks()), which would start app.close().
    let releasesSent = -1;
    const nextListener = () => {
      releasesSent = store.find({ kind: 'release' }).length;
    };
    process.on('SIGTERM', nextListener);
    try {
      process.emit('SIGTERM', 'SIGTERM');
      expect(releasesSent).toBe(1);
      expect(app.service.isLeader()).toBe(false);
    } finally {
      process.removeListener('SIGTERM', nextListener);
    }
    const closing = app.close();
    await runTimers(clock, 100, () => undefined);
    await closing;
    expect(store.find({ kind: 'release' })).toHaveLength(1);
  });
});
