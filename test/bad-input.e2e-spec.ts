import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { Test } from '@nestjs/testing';
import {
  LeaderElectionConfigError,
  LeaderElectionModule,
  type ElectionEvent,
  type LeaderElectionModuleOptions,
} from 'nestjs-leader-election';
import { resolveLeaderElectionOptions } from '../libs/leader-election/src/leader-election.options';
import {
  CandidatePool,
  FAST_TIMING,
  sleep,
  startCandidate,
  waitUntil,
  type Candidate,
} from './support/candidates';
import { createTestDatabase, mysqlUrl, type TestDatabase } from './support/database';
import { freePort, startThrowawayServer, type ThrowawayServer } from '../tools/mysql-server';

// Bad input fails app creation with a LeaderElectionConfigError that names the option and the rule (the
// rules themselves: libs/leader-election/src/leader-election.options.spec.ts, no app, no database); bad
// database credentials or an absent database do not fail boot, they show in the election's state.

describe('bad input (real Nest apps, real MariaDB)', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, {});

  /** Boots an app with `options`; returns the error that app creation failed with. */
  const bootError = async (options: unknown): Promise<LeaderElectionConfigError> => {
    let candidate: Candidate;
    try {
      candidate = await startCandidate({ options: options as LeaderElectionModuleOptions });
    } catch (error) {
      expect(error).toBeInstanceOf(LeaderElectionConfigError);
      return error as LeaderElectionConfigError;
    }
    await candidate.close();
    throw new Error('The application booted although its options are invalid.');
  };
  const boot = (options: LeaderElectionModuleOptions) => pool.startApp({ options });
  const valid = (): LeaderElectionModuleOptions => ({ connection: db.url, ...FAST_TIMING });

  beforeAll(async () => {
    db = await createTestDatabase('bad_input');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  describe('invalid options at boot', () => {
    it.each([
      ['a connection string that is not a mysql:// URI', { connection: 'postgres://u:Sup3rSecretPw@h/db' }],
      ['a renew interval outside the lease', { renewIntervalMs: 1_500 }],
      ['a tableName that is not an identifier', { tableName: 'lease; DROP TABLE x' }],
      ['an empty elections list', { elections: [] }],
    ])(
      'forRoot with %s fails app creation with the error resolveLeaderElectionOptions() gives',
      async (_what, bad) => {
        const options = { ...valid(), ...bad };
        const error = await bootError(options);
        // The rules and their words are unit-tested in libs/leader-election/src/leader-election.options.spec.ts.
        expect(() => resolveLeaderElectionOptions(options)).toThrow(error.message);
        expect(error.message).not.toContain('Sup3rSecretPw');
      },
    );

    it('a forRootAsync factory with a bad connection fails Test.createTestingModule(...).compile() the same way', async () => {
      const compiling = Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRootAsync({
            useFactory: async () => ({ connection: 'redis://user:Sup3rSecretPw@cache:6379' }),
          }),
        ],
      }).compile();
      const error = await compiling.then(
        async (app) => {
          await app.close();
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(LeaderElectionConfigError);
      expect((error as Error).message).toMatch(/option "connection" must be a URI/);
      expect((error as Error).message).not.toContain('Sup3rSecretPw');
    });
  });

  describe('names', () => {
    it('the longest accepted election name (191) and candidateId (182 + suffix = 191) fit the lease columns: the candidate is elected', async () => {
      const election = 'e'.repeat(191);
      const candidate = await boot({
        ...valid(),
        tableName: 'lease_long_names',
        elections: [election],
        candidateId: 'c'.repeat(182),
      });
      expect(candidate.service.candidateId).toHaveLength(191);
      const leadership = await withTimeout(candidate.service.waitForLeadership(election), 15_000);
      expect(leadership.term).toBe(1);
      const rows = await db.query<{ name: string; holder: string }[]>(
        'SELECT name, holder FROM lease_long_names',
      );
      expect(rows).toEqual([{ name: election, holder: candidate.service.candidateId }]);
    });

    it('an unknown election passed to LeaderElectionService methods names it and the configured ones', async () => {
      const candidate = await boot({ ...valid(), tableName: 'lease_unknown', elections: ['alpha', 'beta'] });
      const { service } = candidate;
      const expectUnknown = (error: unknown) => {
        expect(error).toBeInstanceOf(LeaderElectionConfigError);
        expect((error as Error).message).toMatch(/Unknown election "nope"/);
        expect((error as Error).message).toMatch(/"alpha", "beta"/);
        expect((error as Error).message).toMatch(/"elections" option/);
      };
      for (const call of [
        () => service.isLeader('nope'),
        () => service.getState('nope'),
        () => service.leadershipOf('nope'),
        () => service.leadershipSignal('nope'),
      ]) {
        expect(call).toThrow(LeaderElectionConfigError);
        try {
          call();
        } catch (error) {
          expectUnknown(error);
        }
      }
      // Promise-returning methods: whether they throw or reject, awaiting them fails the same way.
      for (const call of [() => service.resign('nope'), () => service.waitForLeadership('nope')]) {
        const error = await (async () => call())().then(
          () => undefined,
          (err: unknown) => err,
        );
        expectUnknown(error);
      }
      // The configured names still work.
      expect(service.getState('beta').election).toBe('beta');
      expect(typeof service.isLeader('alpha')).toBe('boolean');
    });
  });

  describe('database trouble at boot', () => {
    it('an unreachable database does not fail boot: the candidate is an unhealthy follower and is elected once a server appears on that port', async () => {
      const port = await freePort();
      let server: ThrowawayServer | undefined;
      try {
        const candidate = await boot({
          connection: `mysql://root@127.0.0.1:${port}/test`,
          leaseDurationMs: 1_500,
          renewIntervalMs: 300,
          pollIntervalMs: 300,
          safetyMarginMs: 300,
        });
        const { service } = candidate;
        await waitUntil(
          () => service.getState().lastErrorKind !== null,
          10_000,
          'the first failed statement',
        );
        const down = service.getState();
        expect(down).toMatchObject({
          role: 'follower',
          healthy: false,
          lastErrorKind: 'unreachable',
          leaderId: null,
          status: 'running',
        });
        expect(down.lastError).toMatch(/ECONNREFUSED/);
        expect(service.isLeader()).toBe(false);
        expect(candidate.logger.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
          expect.stringMatching(/database unreachable/),
        ]);

        server = await startThrowawayServer(port);
        await waitUntil(() => service.isLeader(), 60_000, 'the candidate to be elected once the server runs');
        expect(service.getState()).toMatchObject({
          role: 'leader',
          healthy: true,
          lastError: null,
          leaderId: service.candidateId,
        });
        await candidate.close();
      } finally {
        await pool.closeAll();
        await server?.stop();
      }
    }, 120_000);

    describe('credentials', () => {
      let admin: Connection;
      const user = `le_bad_${randomBytes(4).toString('hex')}`;
      // Characters that need escaping in a URI, so that both the encoded and the decoded form are checked.
      const password = `Right#${randomBytes(6).toString('hex')}!`;
      const wrongPassword = `Wr@ng/${randomBytes(6).toString('hex')}:`;
      const secrets = [
        password,
        encodeURIComponent(password),
        wrongPassword,
        encodeURIComponent(wrongPassword),
      ];
      const urlWith = (pass: string) => {
        const url = new URL(db.url);
        url.username = user;
        url.password = encodeURIComponent(pass);
        return url.toString();
      };
      const accessDenied = async () => {
        const [rows] = await admin.query("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'");
        return Number((rows as { Value: string }[])[0].Value);
      };
      const expectNoSecret = (texts: string[]) => {
        for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
      };

      beforeAll(async () => {
        admin = await createConnection({ uri: mysqlUrl() });
        await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
        await admin.query(`GRANT ALL ON \`${db.name}\`.* TO ?@?`, [user, '%']);
      });
      afterAll(async () => {
        await admin.query('DROP USER IF EXISTS ?@?', [user, '%']);
        await admin.end();
      });

      it('a wrong password does not fail boot: unhealthy with kind configuration, one error line over many retries, no password anywhere', async () => {
        const candidate = await boot({
          ...valid(),
          tableName: 'lease_wrong_password',
          connection: urlWith(wrongPassword),
        });
        const { service, logger } = candidate;
        const events: ElectionEvent[] = [];
        const subscription = service.changes$.subscribe((event) => events.push(event));
        try {
          await waitUntil(
            () => service.getState().lastErrorKind !== null,
            10_000,
            'the first failed statement',
          );
          const deniedBefore = await accessDenied();
          // Many poll periods (P = 300 ms, and at most 5 P between retries of a configuration error).
          await sleep(6_000);
          expect((await accessDenied()) - deniedBefore).toBeGreaterThanOrEqual(3);

          const state = service.getState();
          expect(state).toMatchObject({ role: 'follower', healthy: false, lastErrorKind: 'configuration' });
          expect(state.lastError).toMatch(/Access denied for user '.*le_bad_/);
          expect(service.isLeader()).toBe(false);
          const errors = logger.lines.filter((line) => line.level === 'error');
          expect(errors).toHaveLength(1);
          expect(errors[0].message).toMatch(/configuration/);
          expect(errors[0].message).toMatch(/Access denied/);

          await candidate.close();
          expectNoSecret([
            ...logger.lines.map((line) => line.message),
            JSON.stringify(service.getStates()),
            JSON.stringify(events),
            ...events.map((event) => String(event.reason)),
          ]);
        } finally {
          subscription.unsubscribe();
        }
      }, 60_000);

      it('the right password elects the candidate and appears in no log line, state or event', async () => {
        const candidate = await boot({
          ...valid(),
          tableName: 'lease_right_password',
          connection: urlWith(password),
        });
        const { service, logger } = candidate;
        const events: ElectionEvent[] = [];
        const subscription = service.changes$.subscribe((event) => events.push(event));
        try {
          await waitUntil(() => service.isLeader(), 15_000, 'the candidate to be elected');
          expect(service.getState()).toMatchObject({ role: 'leader', healthy: true, lastErrorKind: null });
          const rows = await db.query<{ holder: string }[]>('SELECT holder FROM lease_right_password');
          expect(rows).toEqual([{ holder: service.candidateId }]);
          expect(logger.lines.some((line) => /Elected leader/.test(line.message))).toBe(true);
          await candidate.close();
          expectNoSecret([
            ...logger.lines.map((line) => line.message),
            JSON.stringify(service.getStates()),
            JSON.stringify(events),
          ]);
        } finally {
          subscription.unsubscribe();
        }
      }, 60_000);
    });
  });
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms.`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
