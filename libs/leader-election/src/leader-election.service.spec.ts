import { Injectable } from '@nestjs/common';
import { FakeClock, runTimers, runTimersUntil } from '../testing/fake-clock';
import { MemoryLeaseStore } from '../testing/memory-lease-store';
import { startMemoryNestApp, type MemoryNestApp } from '../testing/nest-app';
import { LeaderOnly } from './decorators/leader-only.decorator';
import { OnLeadershipGranted } from './decorators/leadership-hooks.decorator';
import type { ElectionEvent } from './elector/election-state';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import type { Leadership } from './leader-election.interfaces';
import { LeaderElectionService } from './leader-election.service';

const L = 10_000;

@Injectable()
class Job {
  seen: { inside: Leadership | undefined; held: Leadership | undefined }[] = [];
  constructor(private readonly leaderElection: LeaderElectionService) {}

  @LeaderOnly()
  run() {
    this.seen.push({
      inside: this.leaderElection.currentLeadership(),
      held: this.leaderElection.leadershipOf(),
    });
    return 'ran';
  }
}

@Injectable()
class FailingHook {
  @OnLeadershipGranted()
  fail() {
    throw new Error('hook broke');
  }
}

describe('LeaderElectionService (Nest layer on the in-memory store)', () => {
  let clock: FakeClock;
  let store: MemoryLeaseStore;
  let apps: MemoryNestApp[] = [];
  const none = () => undefined;
  const run = (ms: number) => runTimers(clock, ms, none);
  const runUntil = (predicate: () => boolean, what: string) =>
    runTimersUntil(clock, predicate, 3 * L, what, none);

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryLeaseStore(clock);
  });
  afterEach(async () => {
    const closing = Promise.all(apps.map((app) => app.close()));
    await run(100);
    await closing;
    apps = [];
  });

  const start = async (
    label: string,
    options = {},
    providers: Parameters<typeof startMemoryNestApp>[0]['providers'] = [],
  ) => {
    const app = await startMemoryNestApp({ store, clock, label, options, providers });
    apps.push(app);
    return app;
  };

  it('reports state per election and names unknown elections with a LeaderElectionConfigError', async () => {
    const { service } = await start('a', { elections: ['default', 'billing'] });
    await runUntil(() => service.isLeader() && service.isLeader('billing'), 'a to lead both');
    expect(service.elections).toEqual(['default', 'billing']);
    expect(service.candidateId).toMatch(/^a:[0-9a-f]{8}$/);
    expect(service.getStates().map((state) => [state.election, state.role])).toEqual([
      ['default', 'leader'],
      ['billing', 'leader'],
    ]);
    expect(service.getState('billing')).toMatchObject({
      role: 'leader',
      leaderId: service.candidateId,
      healthy: true,
    });
    expect(() => service.isLeader('nope')).toThrow(LeaderElectionConfigError);
    expect(() => service.getState('nope')).toThrow(
      /Unknown election "nope": this module takes part in "default", "billing"/,
    );
    await expect(service.waitForLeadership('nope')).rejects.toBeInstanceOf(LeaderElectionConfigError);
  });

  it('currentLeadership() is the leadership of the @LeaderOnly() call in progress; leadershipOf() does not depend on the call', async () => {
    const app = await start('a', {}, [Job]);
    await runUntil(() => app.service.isLeader(), 'a to lead');
    const job = app.app.get(Job);
    expect(job.run()).toBe('ran');
    const [{ inside, held }] = job.seen;
    expect(inside).toEqual(held);
    expect(inside).toMatchObject({ election: 'default', term: app.service.getState().term });
    expect(app.service.currentLeadership()).toBeUndefined();
    expect(app.service.leadershipOf()).toMatchObject({ term: inside!.term });
  });

  it('leadershipSignal() is aborted on a follower and aborts when leadership ends; resign() answers whether it led', async () => {
    const { service } = await start('a');
    const follower = await start('b');
    await runUntil(
      () => service.isLeader() && follower.service.getState().leaderId !== null,
      'a to lead, b to see it',
    );
    expect(follower.service.leadershipSignal().aborted).toBe(true);
    await expect(follower.service.resign()).resolves.toBe(false);
    const signal = service.leadershipSignal();
    expect(signal.aborted).toBe(false);
    await expect(service.resign()).resolves.toBe(true);
    expect(signal.aborted).toBe(true);
    expect(String(signal.reason)).toMatch(/Leadership of "default" ended: resigned/);
  });

  it('waitForLeadership() resolves once elected, rejects with the signal reason when aborted first', async () => {
    const { service } = await start('a');
    const follower = await start('b');
    await runUntil(() => service.isLeader() && follower.service.getState().leaderId !== null, 'a to lead');
    const controller = new AbortController();
    const aborted = follower.service.waitForLeadership(undefined, { signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    await expect(aborted).rejects.toThrow('stop waiting');

    const waiting = follower.service.waitForLeadership();
    await service.resign();
    await runUntil(() => follower.service.isLeader(), 'b to lead');
    await expect(waiting).resolves.toMatchObject({
      election: 'default',
      term: follower.service.getState().term,
    });
  });

  it('changes$ emits elected and revoked once per transition, and completes at shutdown', async () => {
    const { service, close } = await start('a');
    const events: ElectionEvent['type'][] = [];
    let completed = false;
    service.changes$.subscribe({
      next: (event) => events.push(event.type),
      complete: () => (completed = true),
    });
    await runUntil(() => service.isLeader(), 'a to lead');
    await run(3 * L);
    const closing = close();
    await run(100);
    await closing;
    apps = [];
    expect(events.filter((type) => type === 'elected' || type === 'revoked')).toEqual(['elected', 'revoked']);
    expect(completed).toBe(true);
  });

  it('a leadership hook that throws is logged with its class, method and term, and the election goes on', async () => {
    const app = await start('a', {}, [FailingHook]);
    await runUntil(() => app.service.isLeader(), 'a to lead');
    await run(10);
    expect(app.logger.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      `Leadership hook FailingHook.fail failed for "default" (term ${app.service.getState().term}): hook broke`,
    ]);
    expect(app.service.isLeader()).toBe(true);
  });
});
