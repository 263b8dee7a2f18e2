import { Injectable, type Provider } from '@nestjs/common';
import {
  LeaderElectionService,
  LeaderOnly,
  OnLeadershipGranted,
  OnLeadershipRevoked,
  type LeadershipChange,
} from 'nestjs-leader-election';
import { waitUntil } from './candidates';

// One suite of @LeaderOnly() behaviours, run against the real module on MariaDB and against
// LeaderElectionTestingModule (test/testing-module.e2e-spec.ts): the testing module must behave the same.

export const SUITE_ELECTION = 'suite';

/** An app under test, whichever module it runs. */
export interface SuiteApp {
  get<T>(type: new (...args: never[]) => T): T;
  /** Makes this app the leader; resolves once it leads. */
  grant(): Promise<void>;
  /** Ends this app's leadership; resolves once it no longer leads. */
  revoke(): Promise<void>;
  close(): Promise<void>;
}

/** How one kind of module boots an app with `providers`, leading the election from the start or not. */
export interface SuiteTarget {
  start(setup: { leader: boolean; providers: Provider[] }): Promise<SuiteApp>;
}

@Injectable()
export class SuiteJobs {
  readonly log: string[] = [];
  readonly signals: AbortSignal[] = [];

  constructor(private readonly leaderElection: LeaderElectionService) {}

  @LeaderOnly(SUITE_ELECTION)
  work(): string {
    this.log.push('work');
    return 'done';
  }

  @LeaderOnly(SUITE_ELECTION)
  async untilRevoked(): Promise<string> {
    const { signal, term } = this.leaderElection.currentLeadership()!;
    this.signals.push(signal);
    this.log.push(`started:${term}`);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.log.push('aborted');
    return 'stopped';
  }

  @OnLeadershipGranted(SUITE_ELECTION)
  async firstGranted(change: LeadershipChange): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.log.push(`granted-1:${change.term}`);
  }

  @OnLeadershipGranted(SUITE_ELECTION)
  secondGranted(change: LeadershipChange): void {
    this.log.push(`granted-2:${change.term}`);
  }

  @OnLeadershipRevoked(SUITE_ELECTION)
  revoked(change: LeadershipChange): void {
    this.log.push(`revoked:${change.term}:${change.signal.aborted}`);
  }
}

/** Declares the shared `@LeaderOnly()` tests for `target`. */
export function describeLeaderOnlyBehaviour(label: string, target: () => SuiteTarget): void {
  describe(`@LeaderOnly() and leadership hooks on ${label}`, () => {
    const apps: SuiteApp[] = [];
    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()));
    });
    const start = async (leader: boolean) => {
      const app = await target().start({ leader, providers: [SuiteJobs] });
      apps.push(app);
      return { app, jobs: app.get(SuiteJobs), service: app.get(LeaderElectionService) };
    };

    it('runs a @LeaderOnly() method on the leader and returns its result', async () => {
      const { app, jobs, service } = await start(true);
      await app.grant();
      expect(service.isLeader(SUITE_ELECTION)).toBe(true);
      expect(jobs.work()).toBe('done');
      expect(jobs.log.filter((entry) => entry === 'work')).toHaveLength(1);
    }, 60_000);

    it('skips a @LeaderOnly() method on a follower (undefined, body not run)', async () => {
      const { jobs, service } = await start(false);
      expect(service.isLeader(SUITE_ELECTION)).toBe(false);
      expect(jobs.work()).toBeUndefined();
      expect(jobs.log).toEqual([]);
    }, 60_000);

    it('aborts the running call’s leadership signal when leadership is revoked, then skips new calls', async () => {
      const { app, jobs, service } = await start(true);
      await app.grant();
      const term = service.leadershipOf(SUITE_ELECTION)!.term;
      const running = jobs.untilRevoked();
      await waitUntil(() => jobs.signals.length === 1, 5_000, 'the call to start');
      expect(jobs.signals[0].aborted).toBe(false);
      await app.revoke();
      await expect(running).resolves.toBe('stopped');
      expect(jobs.signals[0].aborted).toBe(true);
      expect(jobs.log).toContain(`started:${term}`);
      expect(jobs.log).toContain('aborted');
      expect(jobs.work()).toBeUndefined();
    }, 60_000);

    it('runs granted hooks in declaration order, one at a time, and revoked hooks with the aborted signal', async () => {
      const { app, jobs, service } = await start(false);
      await app.grant();
      const term = service.leadershipOf(SUITE_ELECTION)!.term;
      await waitUntil(() => jobs.log.length >= 2, 5_000, 'the granted hooks');
      await app.revoke();
      await waitUntil(() => jobs.log.length >= 3, 5_000, 'the revoked hook');
      expect(jobs.log).toEqual([`granted-1:${term}`, `granted-2:${term}`, `revoked:${term}:true`]);
    }, 60_000);
  });
}
