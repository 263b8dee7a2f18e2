import { Global, Module, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { performance } from 'node:perf_hooks';
import type { ElectionState } from '../elector/election-state';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { LeaderElectionService } from '../leader-election.service';
import { resolveLeaderElectionOptions } from '../leader-election.options';
import { LeaderElectionHealthModule } from './leader-election-health.module';
import { LeaderElectionHealthIndicator } from './leader-election.health';

const PASSWORD = 's3cret-Pa55word';
const SETTINGS = resolveLeaderElectionOptions({
  connection: `mysql://app:${PASSWORD}@db.internal:3306/app`,
  leaseDurationMs: 3_000,
  renewIntervalMs: 600,
  pollIntervalMs: 600,
  safetyMarginMs: 600,
});

function state(overrides: Partial<ElectionState> = {}): ElectionState {
  return {
    election: 'default',
    role: 'follower',
    candidateId: 'me:1',
    leaderId: 'other:2',
    term: 7,
    leaseExpiresAt: null,
    lastRenewedAt: null,
    lastContactAt: new Date(),
    lastContactAgoMs: 250,
    healthy: true,
    lastError: null,
    lastErrorKind: null,
    standbyMode: 'poll',
    status: 'running',
    ...overrides,
  };
}

/** Stands in for the service: the indicator only reads `getState()` and `settings`. */
class FakeLeaderElectionService {
  current: ElectionState = state();
  settings = SETTINGS;
  getState(election?: string): ElectionState {
    if (election !== undefined && election !== 'default') {
      throw new LeaderElectionConfigError(`Unknown election "${election}".`);
    }
    return this.current;
  }
}

describe('LeaderElectionHealthIndicator', () => {
  let service: FakeLeaderElectionService;
  let indicator: LeaderElectionHealthIndicator;

  beforeEach(() => {
    service = new FakeLeaderElectionService();
    indicator = new LeaderElectionHealthIndicator(
      new HealthIndicatorService(),
      service as unknown as LeaderElectionService,
    );
  });
  afterEach(() => jest.restoreAllMocks());

  it('is up for a healthy leader, with role, election, leaderId, term and last contact', () => {
    service.current = state({ role: 'leader', leaderId: 'me:1', lastContactAgoMs: 120 });
    expect(indicator.isHealthy('le')).toEqual({
      le: {
        status: 'up',
        election: 'default',
        role: 'leader',
        candidateId: 'me:1',
        leaderId: 'me:1',
        term: 7,
        lastContactAgoMs: 120,
        lastError: null,
        lastErrorKind: null,
      },
    });
  });

  it('is up for a healthy follower', () => {
    expect(indicator.isHealthy('le').le).toMatchObject({
      status: 'up',
      role: 'follower',
      leaderId: 'other:2',
    });
  });

  it('is down with the reason and the last error while lease statements fail', () => {
    service.current = state({
      healthy: false,
      lastError: 'connect ECONNREFUSED 10.0.0.5:3306',
      lastErrorKind: 'unreachable',
    });
    const result = indicator.isHealthy('le').le;
    expect(result).toMatchObject({
      status: 'down',
      lastError: 'connect ECONNREFUSED 10.0.0.5:3306',
      lastErrorKind: 'unreachable',
    });
    expect(result.reason).toBe('lease statements fail (unreachable): connect ECONNREFUSED 10.0.0.5:3306');
  });

  it('is down once the last successful statement is older than the lease plus one statement deadline', () => {
    const limit = 3_000 + service.settings.operationTimeoutMs;
    service.current = state({ lastContactAgoMs: limit });
    expect(indicator.isHealthy('le').le.status).toBe('up');
    service.current = state({ lastContactAgoMs: limit + 1 });
    const result = indicator.isHealthy('le').le;
    expect(result.status).toBe('down');
    expect(result.reason).toBe(`no lease statement has succeeded for ${limit + 1} ms (limit ${limit} ms)`);
  });

  it('allows a follower that polls less often than the lease one poll plus the statement deadline', () => {
    service.settings = resolveLeaderElectionOptions({
      connection: 'mysql://root@localhost/test',
      leaseDurationMs: 3_000,
      renewIntervalMs: 600,
      pollIntervalMs: 5_000,
      safetyMarginMs: 600,
    });
    const limit = 5_000 + service.settings.operationTimeoutMs;
    service.current = state({ lastContactAgoMs: limit });
    expect(indicator.isHealthy('le').le.status).toBe('up');
    service.current = state({ lastContactAgoMs: limit + 1 });
    expect(indicator.isHealthy('le').le.status).toBe('down');
  });

  it('is up before the first contact, and down when none came within a lease (plus a statement deadline) of start', () => {
    const now = jest.spyOn(performance, 'now');
    const start = performance.now();
    now.mockReturnValue(start);
    indicator = new LeaderElectionHealthIndicator(
      new HealthIndicatorService(),
      service as unknown as LeaderElectionService,
    );
    service.current = state({ lastContactAgoMs: null, lastContactAt: null, leaderId: null, term: 0 });
    const limit = 3_000 + service.settings.operationTimeoutMs;
    now.mockReturnValue(start + limit - 100);
    expect(indicator.isHealthy('le').le.status).toBe('up');
    now.mockReturnValue(start + limit + 100);
    const result = indicator.isHealthy('le').le;
    expect(result.status).toBe('down');
    expect(result.reason).toBe(`no lease statement has succeeded since start (${limit + 100} ms ago)`);
  });

  it('with requireLeader is down on a follower, naming the leader, and up on the leader', () => {
    const down = indicator.isHealthy('le', { requireLeader: true }).le;
    expect(down).toMatchObject({ status: 'down', role: 'follower' });
    expect(down.reason).toBe('this instance is not the leader (leader: other:2)');
    service.current = state({ role: 'leader', leaderId: 'me:1' });
    expect(indicator.isHealthy('le', { requireLeader: true }).le.status).toBe('up');
  });

  it('with requireLeader reports the database failure first on a leader whose statements fail', () => {
    service.current = state({
      role: 'leader',
      healthy: false,
      lastError: 'boom',
      lastErrorKind: 'not-applied',
    });
    expect(indicator.isHealthy('le', { requireLeader: true }).le.reason).toMatch(/^lease statements fail/);
  });

  it.each(['idle', 'draining', 'stopped'] as const)('is down while the election is %s', (status) => {
    service.current = state({ status });
    const result = indicator.isHealthy('le').le;
    expect(result.status).toBe('down');
    expect(result.reason).toBe(`the election is ${status}`);
  });

  it('reports an unknown election as down instead of throwing', () => {
    const result = indicator.isHealthy('le', { election: 'billing' }).le;
    expect(result).toEqual({ status: 'down', election: 'billing', reason: 'Unknown election "billing".' });
  });

  it('never puts connection options in its output, though its settings carry the password in both connection forms', () => {
    const timing = { leaseDurationMs: 3_000, renewIntervalMs: 600, pollIntervalMs: 600, safetyMarginMs: 600 };
    const connections = [
      `mysql://app:${PASSWORD}@db.internal:3306/app`,
      { host: 'db.internal', port: 3306, user: 'app', password: PASSWORD, database: 'app' },
    ];
    // What the real service reports: the store's messages with credentials already removed.
    const states = [
      state(),
      state({ role: 'leader', leaderId: 'me:1' }),
      state({
        healthy: false,
        lastError: "Access denied for user 'app'@'10.0.0.9' (using password: YES)",
        lastErrorKind: 'configuration',
      }),
      state({
        healthy: false,
        lastError: 'connect ECONNREFUSED 10.0.0.5:3306',
        lastErrorKind: 'unreachable',
      }),
      state({ lastContactAgoMs: 60_000 }),
      state({ status: 'draining' }),
    ];
    for (const connection of connections) {
      service.settings = resolveLeaderElectionOptions({ connection, ...timing });
      // The secret is there for a careless indicator to leak: without it this test could not fail.
      expect(JSON.stringify(service.settings)).toContain(PASSWORD);
      for (const current of states) {
        service.current = current;
        const text = JSON.stringify([
          indicator.isHealthy('le'),
          indicator.isHealthy('le', { requireLeader: true }),
          indicator.isHealthy('le', { election: 'billing' }),
        ]);
        expect(text).not.toContain(PASSWORD);
        expect(text).not.toContain('db.internal');
        expect(text).not.toMatch(/"(connection|host|port|user|password|database|uri)"/);
      }
    }
  });
});

describe('LeaderElectionHealthModule', () => {
  it('wires the indicator with Terminus and the global LeaderElectionService; down answers 503', async () => {
    const fake = new FakeLeaderElectionService();
    @Global()
    @Module({
      providers: [{ provide: LeaderElectionService, useValue: fake }],
      exports: [LeaderElectionService],
    })
    class FakeLeaderElectionModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [FakeLeaderElectionModule, TerminusModule, LeaderElectionHealthModule],
    })
      // Terminus logs every failed check through Nest's logger; keep the test output clean.
      .setLogger({ log: () => undefined, error: () => undefined, warn: () => undefined })
      .compile();
    try {
      const health = moduleRef.get(HealthCheckService);
      const indicator = moduleRef.get(LeaderElectionHealthIndicator);
      const check = () => health.check([() => indicator.isHealthy('leaderElection')]);

      await expect(check()).resolves.toMatchObject({
        status: 'ok',
        info: { leaderElection: { status: 'up' } },
      });
      fake.current = state({ healthy: false, lastError: 'gone', lastErrorKind: 'unreachable' });
      const failure = await check().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ServiceUnavailableException);
      expect((failure as ServiceUnavailableException).getResponse()).toMatchObject({
        status: 'error',
        error: { leaderElection: { status: 'down', lastError: 'gone' } },
      });
    } finally {
      await moduleRef.close();
    }
  });
});
