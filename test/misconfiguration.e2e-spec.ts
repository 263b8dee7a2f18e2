// What a new user gets wrong in the first hour, and what the module then says (issue: no silent
// misconfiguration). Each case asserts the words of its message.
import { Controller, Get, Injectable, Module, type DynamicModule, type Type } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import {
  LeaderElectionConfigError,
  LeaderElectionModule,
  LeaderOnly,
  type LeaderElectionModuleOptions,
} from 'nestjs-leader-election';
import { LeaderElectionHealthIndicator, LeaderElectionHealthModule } from 'nestjs-leader-election/health';
import { CandidatePool, FAST_TIMING, RecordingLogger, sleep, waitUntil } from './support/candidates';
import { spawnChildCandidate, type ChildCandidate } from './support/child-candidate';
import { createTestDatabase, type TestDatabase } from './support/database';

@Injectable()
class ScheduledJobs {
  @Interval(60_000)
  @LeaderOnly()
  report() {}
}

/** Compiles and boots a module; resolves the error it failed with, or `undefined`. */
async function bootError(imports: (DynamicModule | Type)[], providers: Type[] = []) {
  @Module({ imports, providers })
  class RootModule {}
  const logger = new RecordingLogger();
  try {
    const app = await Test.createTestingModule({ imports: [RootModule] })
      .setLogger(logger)
      .compile();
    await app.init();
    await app.close();
    return { error: undefined, logger };
  } catch (error) {
    return { error: error as Error, logger };
  }
}

describe('misconfiguration is reported, never silent (real MariaDB)', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  let children: ChildCandidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('misconfig');
  });
  afterEach(async () => {
    await pool.closeAll();
    await Promise.all(children.map((child) => child.kill('SIGKILL')));
    children = [];
  });
  afterAll(async () => {
    await db.drop();
  });

  const asyncModule = (options: Record<string, unknown>) =>
    LeaderElectionModule.forRootAsync({
      useFactory: () => ({ connection: db.url, ...options }) as LeaderElectionModuleOptions,
    });

  it('an unknown option key from forRootAsync fails boot with a LeaderElectionConfigError naming the closest valid option', async () => {
    const { error } = await bootError([asyncModule({ leaseDuration: 3_000 })]);
    expect(error).toBeInstanceOf(LeaderElectionConfigError);
    expect(error!.message).toMatch(
      /^LeaderElectionModule has no option "leaseDuration" \(did you mean "leaseDurationMs"\?\)\. Valid options: connection, elections, /,
    );
    const { error: other } = await bootError([asyncModule({ tablename: 'x' })]);
    expect(other!.message).toMatch(/no option "tablename" \(did you mean "tableName"\?\)/);
  });

  it('a numeric string from ConfigService fails boot with a message that says to convert it', async () => {
    const { error } = await bootError([asyncModule({ leaseDurationMs: '3000' })]);
    expect(error).toBeInstanceOf(LeaderElectionConfigError);
    expect(error!.message).toBe(
      'LeaderElectionModule option "leaseDurationMs" must be a number, not the string "3000". Values from ' +
        "ConfigService or process.env are strings: convert them, e.g. leaseDurationMs: Number(config.get('...')).",
    );
  });

  it('@LeaderOnly() on an @Interval job without ScheduleModule logs one warning naming the method; none with it', async () => {
    const without = await bootError([asyncModule({ tableName: 'lease_no_scheduler' })], [ScheduledJobs]);
    expect(without.error).toBeUndefined();
    const warnings = without.logger.lines.filter(
      (line) => line.level === 'warn' && /scheduler/.test(line.message),
    );
    expect(warnings.map((line) => line.message)).toEqual([
      '@LeaderOnly() is on scheduled method(s) ScheduledJobs.report, but no scheduler is registered, so they ' +
        'never run on any instance. Import ScheduleModule.forRoot() from @nestjs/schedule in your root module.',
    ]);
    const withScheduler = await bootError(
      [ScheduleModule.forRoot(), asyncModule({ tableName: 'lease_with_scheduler' })],
      [ScheduledJobs],
    );
    expect(withScheduler.error).toBeUndefined();
    expect(withScheduler.logger.lines.filter((line) => /no scheduler/.test(line.message))).toEqual([]);
  });

  it('LeaderElectionHealthModule with isGlobal: false fails boot saying why, not with "cannot resolve dependencies"', async () => {
    @Controller('health')
    class HealthController {
      constructor(readonly indicator: LeaderElectionHealthIndicator) {}
      @Get()
      check() {}
    }
    const { error } = await bootError([
      LeaderElectionModule.forRoot({ connection: db.url, isGlobal: false }),
      TerminusModule,
      {
        module: class HealthFeatureModule {},
        imports: [LeaderElectionHealthModule],
        controllers: [HealthController],
      } as DynamicModule,
    ]);
    expect(error).toBeInstanceOf(LeaderElectionConfigError);
    expect(error!.message).toMatch(
      /^LeaderElectionHealthModule cannot find LeaderElectionService: LeaderElectionModule is registered with "isGlobal: false"/,
    );
  });

  it('without app.enableShutdownHooks() a process logs one warning that SIGTERM will cost a full lease; with them, none', async () => {
    const env = (name: string, hooks: '0' | '1') => ({
      MYSQL_URL: db.url,
      TABLE: 'lease_shutdown_hooks',
      CANDIDATE_ID: name,
      SHUTDOWN_HOOKS: hooks,
      NODE_ENV: 'production',
    });
    children = [
      await spawnChildCandidate(env('forgot', '0')),
      await spawnChildCandidate(env('remembered', '1')),
    ];
    const [forgot, remembered] = children;
    const warning =
      'Shutdown hooks are not enabled: on SIGTERM this instance stops without releasing its lease';
    await waitUntil(() => forgot.output().includes(warning), 10_000, 'the warning');
    await sleep(1_500);
    expect(forgot.output().split(warning)).toHaveLength(2); // exactly once
    expect(forgot.output()).toMatch(/Call app\.enableShutdownHooks\(\) in main\.ts before app\.listen\(\)/);
    expect(remembered.output()).not.toContain(warning);
  }, 60_000);

  it('service.settings gives timing, table and elections but never the connection or its password', async () => {
    const password = 'Sett1ngs-s3cret';
    const { url } = await db.createUser(password);
    const candidate = await pool.start('settings', 'lease_settings', { connection: url });
    await waitUntil(() => candidate.service.isLeader(), 5_000, 'the candidate to lead');
    const { settings } = candidate.service;
    expect(settings).toMatchObject({
      elections: ['default'],
      tableName: 'lease_settings',
      leaseDurationMs: FAST_TIMING.leaseDurationMs,
      renewIntervalMs: FAST_TIMING.renewIntervalMs,
      pollIntervalMs: FAST_TIMING.pollIntervalMs,
      safetyMarginMs: FAST_TIMING.safetyMarginMs,
    });
    expect(Object.isFrozen(settings)).toBe(true);
    expect('connection' in settings).toBe(false);
    expect(JSON.stringify(settings)).not.toContain(password);
  }, 30_000);
});
