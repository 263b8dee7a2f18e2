import { Injectable, Scope } from '@nestjs/common';
import { FakeClock, runTimersUntil } from '../testing/fake-clock';
import { MemoryLeaseStore } from '../testing/memory-lease-store';
import { startMemoryNestApp, type MemoryNestApp } from '../testing/nest-app';
import { LeaderOnly } from './decorators/leader-only.decorator';
import { OnLeadershipGranted } from './decorators/leadership-hooks.decorator';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';

@Injectable()
class Jobs {
  runs = 0;
  @LeaderOnly()
  work() {
    return ++this.runs;
  }
}

@Injectable({ scope: Scope.TRANSIENT })
class TransientJobs {
  runs = 0;
  @LeaderOnly()
  work() {
    return ++this.runs;
  }
}

@Injectable()
class ConsumerOfTransient {
  constructor(readonly jobs: TransientJobs) {}
}

@Injectable()
class Billing {
  granted: number[] = [];
  @OnLeadershipGranted('billing')
  onGranted({ term }: { term: number }) {
    this.granted.push(term);
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestScoped {
  @LeaderOnly()
  work() {}
}

@Injectable()
class WrongElection {
  @LeaderOnly('nope')
  work() {}
}

describe('LeaderElectionExplorer (Nest layer on the in-memory store)', () => {
  let clock: FakeClock;
  let store: MemoryLeaseStore;
  let apps: MemoryNestApp[] = [];
  const runUntil = (predicate: () => boolean, what: string) =>
    runTimersUntil(clock, predicate, 30_000, what, () => undefined);

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryLeaseStore(clock);
  });
  afterEach(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });

  const start = async (
    label: string,
    providers: Parameters<typeof startMemoryNestApp>[0]['providers'],
    options = {},
  ) => {
    const app = await startMemoryNestApp({ store, clock, label, providers, options });
    apps.push(app);
    return app;
  };

  it("binds a singleton's @LeaderOnly() methods to its app: they run on the leader and are skipped on the follower", async () => {
    const leader = await start('a', [Jobs]);
    await runUntil(() => leader.service.isLeader(), 'a to lead');
    const follower = await start('b', [Jobs]);
    await runUntil(() => follower.service.getState().leaderId !== null, 'b to see a');
    expect(leader.app.get(Jobs).work()).toBe(1);
    expect(follower.app.get(Jobs).work()).toBeUndefined();
    expect(follower.app.get(Jobs).runs).toBe(0);
  });

  it('binds every instance of a transient provider', async () => {
    const app = await start('a', [TransientJobs, ConsumerOfTransient]);
    await runUntil(() => app.service.isLeader(), 'a to lead');
    expect(app.app.get(ConsumerOfTransient).jobs.work()).toBe(1);
  });

  it('registers hooks for the election they name', async () => {
    const app = await start('a', [Billing], { elections: ['default', 'billing'] });
    await runUntil(() => app.service.isLeader('billing'), 'a to lead billing');
    await runUntil(() => app.app.get(Billing).granted.length === 1, 'the billing hook');
    expect(app.app.get(Billing).granted).toEqual([app.service.getState('billing').term]);
  });

  it('fails boot on a request-scoped provider, naming class and method', async () => {
    await expect(start('a', [RequestScoped])).rejects.toThrow(LeaderElectionConfigError);
    await expect(start('a', [RequestScoped])).rejects.toThrow(
      /@LeaderOnly\(\) on RequestScoped\.work cannot work/,
    );
  });

  it('fails boot on an election that is not configured, naming class, method and the configured ones', async () => {
    await expect(start('a', [WrongElection])).rejects.toThrow(
      /@LeaderOnly\("nope"\) on WrongElection\.work names an election that is not configured \(configured: "default"\)/,
    );
  });
});
