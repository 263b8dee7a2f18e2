import { Test } from '@nestjs/testing';
import { Module } from '@nestjs/common';
import { LeaderElectionModule, LeaderElectionService } from 'nestjs-leader-election';
import { LeaderElectionTesting, LeaderElectionTestingModule } from 'nestjs-leader-election/testing';
import { LeaseAdmin } from '../libs/leader-election/src/store/lease-admin';
import { FAST_TIMING, startCandidate, waitUntil, type Candidate } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';
import {
  describeLeaderOnlyBehaviour,
  SUITE_ELECTION,
  SuiteJobs,
  type SuiteApp,
} from './support/leader-only-suite';

// The testing module (nestjs-leader-election/testing) must behave like the real module: one suite of
// @LeaderOnly() behaviours runs against both.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('testing_module');
});
afterAll(async () => {
  await db?.drop();
});

describeLeaderOnlyBehaviour('the real module on MariaDB', () => ({
  async start({ leader, providers }) {
    const options = { connection: db.url, elections: [SUITE_ELECTION], ...FAST_TIMING };
    // A follower follows another instance that holds the lease until grant() stops it.
    let other: Candidate | undefined;
    if (!leader) {
      other = await startCandidate({ options });
      await other.service.waitForLeadership(SUITE_ELECTION);
    }
    const candidate = await startCandidate({ options, providers });
    const service = candidate.service;
    if (leader) await service.waitForLeadership(SUITE_ELECTION);
    const app: SuiteApp = {
      get: (type) => candidate.app.get(type),
      async grant() {
        await other?.close();
        await service.waitForLeadership(SUITE_ELECTION);
      },
      async revoke() {
        // As an operator (the CLI's resign): the lease is taken away, the holder's next renewal fails.
        const admin = new LeaseAdmin(db.url, 'leader_election_lease');
        try {
          await admin.resign(SUITE_ELECTION);
        } finally {
          await admin.close();
        }
        await waitUntil(() => !service.isLeader(SUITE_ELECTION), 10_000, 'the leader to step down');
      },
      async close() {
        await Promise.all([candidate.close(), other?.close()]);
      },
    };
    return app;
  },
}));

describeLeaderOnlyBehaviour('LeaderElectionTestingModule (no database)', () => ({
  async start({ leader, providers }) {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ leader, elections: [SUITE_ELECTION] })],
      providers,
    }).compile();
    await moduleRef.init();
    const testing = moduleRef.get(LeaderElectionTesting);
    return {
      get: (type) => moduleRef.get(type),
      grant: async () => {
        await testing.grant();
      },
      revoke: () => testing.revoke(),
      close: () => moduleRef.close(),
    };
  },
}));

describe('LeaderElectionTestingModule', () => {
  it('leads every election once init() resolves with leader: true, and none with leader: false', async () => {
    for (const leader of [true, false]) {
      const moduleRef = await Test.createTestingModule({
        imports: [LeaderElectionTestingModule.forRoot({ leader, elections: ['a', 'b'] })],
      }).compile();
      await moduleRef.init();
      const service = moduleRef.get(LeaderElectionService);
      expect([service.isLeader('a'), service.isLeader('b')]).toEqual([leader, leader]);
      await moduleRef.close();
    }
  });

  it('grant() and revoke() act on one election, take a new term each time, and resolve within milliseconds', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ leader: false, elections: ['a', 'b'] })],
    }).compile();
    await moduleRef.init();
    const service = moduleRef.get(LeaderElectionService);
    const testing = moduleRef.get(LeaderElectionTesting);
    try {
      const started = Date.now();
      const first = await testing.grant('b');
      expect([service.isLeader('a'), service.isLeader('b')]).toEqual([false, true]);
      expect(first).toMatchObject({ election: 'b', term: service.leadershipOf('b')!.term });
      await testing.revoke('b');
      expect(service.isLeader('b')).toBe(false);
      expect(first.signal.aborted).toBe(true);
      const second = await testing.grant('b');
      expect(second.term).toBeGreaterThan(first.term);
      expect(Date.now() - started).toBeLessThan(2_000);
      await expect(testing.grant('c')).rejects.toThrow(/unknown election "c".*forRoot\(\{ elections:/);
    } finally {
      await moduleRef.close();
    }
  });

  it('grant() and revoke() resolve only after the leadership hooks have run, so a test can assert at once', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ leader: false, elections: [SUITE_ELECTION] })],
      providers: [SuiteJobs],
    }).compile();
    await moduleRef.init();
    const jobs = moduleRef.get(SuiteJobs);
    const testing = moduleRef.get(LeaderElectionTesting);
    try {
      const { term } = await testing.grant();
      expect(jobs.log).toEqual([`granted-1:${term}`, `granted-2:${term}`]);
      await testing.revoke();
      expect(jobs.log).toEqual([`granted-1:${term}`, `granted-2:${term}`, `revoked:${term}:true`]);
    } finally {
      await moduleRef.close();
    }
  });

  it('replaces the real module of an app module through overrideModule(the forRoot() module object)', async () => {
    // A connection nothing answers on: had the real module stayed, this app could never lead.
    const leaderElection = LeaderElectionModule.forRoot({ connection: 'mysql://nobody@127.0.0.1:1/none' });
    @Module({ imports: [leaderElection] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(leaderElection)
      .useModule(LeaderElectionTestingModule.forRoot({ leader: true }))
      .compile();
    await moduleRef.init();
    try {
      expect(moduleRef.get(LeaderElectionService).isLeader()).toBe(true);
    } finally {
      await moduleRef.close();
    }
  });

  it('releases leadership on close like the real module (revoked event, signal aborted)', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot()],
    }).compile();
    await moduleRef.init();
    const service = moduleRef.get(LeaderElectionService);
    const leadership = service.leadershipOf()!;
    expect(leadership.election).toBe('default');
    await moduleRef.close();
    expect(leadership.signal.aborted).toBe(true);
    expect(service.isLeader()).toBe(false);
  });
});
