import { Injectable } from '@nestjs/common';
import { FakeClock, runTimers, runTimersUntil } from '../testing/fake-clock';
import { MemoryLeaseStore } from '../testing/memory-lease-store';
import { startMemoryNestApp, type MemoryNestApp } from '../testing/nest-app';
import { OnLeadershipGranted, OnLeadershipRevoked } from './decorators/leadership-hooks.decorator';
import type { LeadershipChange } from './leader-election.interfaces';

const L = 10_000;

/** Hooks that record what they were called with; the first granted hook blocks until released. */
@Injectable()
class RecordingHooks {
  readonly calls: { kind: string; term: number; abortedAtCall: boolean; signal: AbortSignal }[] = [];
  private unblock: (() => void) | undefined;
  blockFirstGrant = true;

  release(): void {
    this.unblock?.();
  }

  @OnLeadershipGranted()
  async granted(change: LeadershipChange) {
    this.calls.push({
      kind: 'granted',
      term: change.term,
      abortedAtCall: change.signal.aborted,
      signal: change.signal,
    });
    if (this.blockFirstGrant) {
      this.blockFirstGrant = false;
      await new Promise<void>((resolve) => (this.unblock = resolve));
    }
  }

  @OnLeadershipRevoked()
  revoked(change: LeadershipChange) {
    this.calls.push({
      kind: 'revoked',
      term: change.term,
      abortedAtCall: change.signal.aborted,
      signal: change.signal,
    });
  }
}

describe('LeaderElectionOrchestrator (Nest layer on the in-memory store)', () => {
  let clock: FakeClock;
  let store: MemoryLeaseStore;
  let app: MemoryNestApp | undefined;
  const noInvariant = () => undefined;
  const run = (ms: number) => runTimers(clock, ms, noInvariant);
  const runUntil = (predicate: () => boolean, limitMs: number, what: string) =>
    runTimersUntil(clock, predicate, limitMs, what, noInvariant);

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryLeaseStore(clock);
  });
  afterEach(async () => {
    const closing = app?.close();
    await run(100);
    await closing;
    app = undefined;
  });

  it('passes the leadership signal to hooks, and skips a granted hook (and its revoked hook) whose leadership ended while an earlier hook still ran', async () => {
    app = await startMemoryNestApp({ store, clock, label: 'a', providers: [RecordingHooks] });
    const hooks = app.app.get(RecordingHooks);
    const { service } = app;
    await runUntil(() => service.isLeader(), L, 'a to lead');
    const first = service.leadershipOf()!;
    await run(10);
    // The first granted hook runs (and blocks) with the live leadership's signal.
    expect(hooks.calls).toEqual([
      { kind: 'granted', term: first.term, abortedAtCall: false, signal: first.signal },
    ]);

    // Leadership ends, comes back (a new term) and ends again while that hook still runs.
    await service.resign();
    await runUntil(() => service.isLeader(), 3 * L, 'a to lead again');
    const second = service.leadershipOf()!;
    expect(second.term).toBeGreaterThan(first.term);
    await service.resign();
    await run(10);
    expect(hooks.calls).toHaveLength(1);

    hooks.release();
    await run(10);
    // Term 1's revoked hook runs with its (aborted) signal; term 2 ended before its granted hook's turn:
    // neither its granted nor its revoked hook runs.
    expect(hooks.calls.map(({ kind, term, abortedAtCall }) => ({ kind, term, abortedAtCall }))).toEqual([
      { kind: 'granted', term: first.term, abortedAtCall: false },
      { kind: 'revoked', term: first.term, abortedAtCall: true },
    ]);
    expect(hooks.calls[1].signal).toBe(first.signal);
    expect(app.logger.lines.map((line) => line.message)).toContainEqual(
      expect.stringMatching(
        new RegExp(`Skipped the @OnLeadershipGranted\\(\\) hooks of "default" \\(term ${second.term}\\)`),
      ),
    );
  });
});
