import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { Test } from '@nestjs/testing';
import {
  LeaderElectionConfigError,
  LeaderElectionModule,
  type ElectionEvent,
  type LeaderElectionModuleOptions,
} from 'nestjs-leader-election';
import { FAST_TIMING, sleep, startCandidate, waitUntil, type Candidate } from './support/candidates';
import { createTestDatabase, mysqlUrl, type TestDatabase } from './support/database';
import { freePort, startThrowawayServer, type ThrowawayServer } from './support/mysql-server';

// Bad input fails app creation with a LeaderElectionConfigError that names the option and the rule;
// bad database credentials or an absent database do not fail boot, they show in the election's state.

describe('bad input (real Nest apps, real MariaDB)', () => {
  let db: TestDatabase;
  let candidates: Candidate[] = [];

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
  const boot = async (options: LeaderElectionModuleOptions) => {
    const candidate = await startCandidate({ options });
    candidates.push(candidate);
    return candidate;
  };
  const valid = (): LeaderElectionModuleOptions => ({ connection: db.url, ...FAST_TIMING });

  beforeAll(async () => {
    db = await createTestDatabase('bad_input');
  });
  afterEach(async () => {
    await Promise.all(candidates.map((candidate) => candidate.close()));
    candidates = [];
  });
  afterAll(async () => {
    await db.drop();
  });

  describe('connection', () => {
    it.each([
      ['absent', {}],
      ['undefined', { connection: undefined }],
      ['null', { connection: null }],
      ['a number', { connection: 3306 }],
      ['an array', { connection: ['mysql://root@127.0.0.1/test'] }],
    ])(
      'a connection that is %s is rejected, saying it is required and how to give one',
      async (_what, options) => {
        const error = await bootError({ ...FAST_TIMING, ...options });
        expect(error.message).toMatch(/option "connection" is required/);
        expect(error.message).toMatch(/mysql:\/\/user:password@host:3306\/database/);
        expect(error.message).toMatch(/mysql2 pool options \(\{ host, port, user, password, database \}\)/);
      },
    );

    it.each([
      'postgres://admin:Sup3rSecretPw@db.internal:5432/app',
      'admin:Sup3rSecretPw@db.internal:3306/app',
      'http://admin:Sup3rSecretPw@db.internal/app',
      'Sup3rSecretPw',
      '',
    ])(
      'the connection string %p, not a mysql:// URI, is rejected without echoing the string or its password',
      async (connection) => {
        const error = await bootError({ ...FAST_TIMING, connection });
        expect(error.message).toMatch(/option "connection" must be a URI like "mysql:\/\//);
        expect(error.message).not.toContain('Sup3rSecretPw');
        expect(error.message).not.toContain('db.internal');
        if (connection) expect(error.message).not.toContain(connection);
      },
    );

    it.each([
      ['empty pool options', {}],
      ['pool options without host', { user: 'root', password: 'Sup3rSecretPw', database: 'test' }],
    ])(
      '%s are rejected, naming "host" and the accepted forms, without the password',
      async (_what, connection) => {
        const error = await bootError({ ...FAST_TIMING, connection });
        expect(error.message).toMatch(/option "connection" needs "host" \(or "socketPath" or "uri"\)/);
        expect(error.message).not.toContain('Sup3rSecretPw');
      },
    );

    it('pool options whose uri is not mysql:// are rejected like a bad URI string', async () => {
      const error = await bootError({
        ...FAST_TIMING,
        connection: { uri: 'postgres://u:Sup3rSecretPw@h/db' },
      });
      expect(error.message).toMatch(/option "connection" must be a URI like "mysql:\/\//);
      expect(error.message).not.toContain('Sup3rSecretPw');
    });

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

  describe('timing', () => {
    it.each([
      [1_000, 1_000],
      [500, 1_000],
    ])(
      'leaseDurationMs %p <= safetyMarginMs %p is rejected, naming the rule and both values',
      async (lease, margin) => {
        const error = await bootError({
          ...valid(),
          leaseDurationMs: lease,
          safetyMarginMs: margin,
          renewIntervalMs: 100,
        });
        expect(error.message).toMatch(/leaseDurationMs > safetyMarginMs/);
        expect(error.message).toContain(`leaseDurationMs=${lease}`);
        expect(error.message).toContain(`safetyMarginMs=${margin}`);
      },
    );

    it.each([
      [2_000, 3_000, 1_000],
      [2_500, 3_000, 1_000],
      [10_000, 3_000, 1_000],
    ])(
      'renewIntervalMs %p >= leaseDurationMs %p - safetyMarginMs %p is rejected, naming the rule and the values',
      async (renew, lease, margin) => {
        const error = await bootError({
          ...valid(),
          renewIntervalMs: renew,
          leaseDurationMs: lease,
          safetyMarginMs: margin,
        });
        expect(error.message).toMatch(/renewIntervalMs < leaseDurationMs - safetyMarginMs/);
        expect(error.message).toContain(`renewIntervalMs=${renew}`);
        expect(error.message).toContain(`leaseDurationMs=${lease}`);
        expect(error.message).toContain(`safetyMarginMs=${margin}`);
      },
    );

    const positiveOptions = [
      'leaseDurationMs',
      'renewIntervalMs',
      'pollIntervalMs',
      'safetyMarginMs',
      'operationTimeoutMs',
    ] as const;
    const badPositive: unknown[] = [0, -1, -0.5, Number.NaN, Number.POSITIVE_INFINITY, 'soon', null, true];
    it.each(positiveOptions.flatMap((option) => badPositive.map((value) => [option, value] as const)))(
      '%s = %p is rejected with a message naming that option and "positive number of milliseconds"',
      async (option, value) => {
        const error = await bootError({ ...valid(), [option]: value });
        expect(error.message).toContain(`option "${option}"`);
        expect(error.message).toMatch(/must be a positive number of milliseconds/);
      },
    );

    it.each([-1, Number.NaN, 'later', null])(
      'drainTimeoutMs = %p is rejected with a message naming drainTimeoutMs and "non-negative"',
      async (value) => {
        const error = await bootError({ ...valid(), drainTimeoutMs: value });
        expect(error.message).toContain('option "drainTimeoutMs"');
        expect(error.message).toMatch(/must be a non-negative number of milliseconds/);
      },
    );

    it('timing values just inside every rule boot (R = L - M - 1, drainTimeoutMs = 0)', async () => {
      const candidate = await boot({
        connection: db.url,
        tableName: 'lease_timing_edge',
        leaseDurationMs: 3_000,
        safetyMarginMs: 1_000,
        renewIntervalMs: 1_999,
        pollIntervalMs: 1,
        operationTimeoutMs: 1_500,
        drainTimeoutMs: 0,
      });
      expect(candidate.service.settings).toMatchObject({ renewIntervalMs: 1_999, drainTimeoutMs: 0 });
    });

    it('createTable that is not a boolean is rejected, naming createTable', async () => {
      const error = await bootError({ ...valid(), createTable: 'yes' });
      expect(error.message).toContain('option "createTable"');
      expect(error.message).toMatch(/must be true or false/);
    });
  });

  describe('names', () => {
    it.each([
      ['longer than 191 characters', ['x'.repeat(192)], /must hold names of 1 to 191 characters/],
      ['empty', [''], /must hold names of 1 to 191 characters/],
      ['not a string', [42], /must hold names of 1 to 191 characters/],
      ['duplicated', ['billing', 'reports', 'billing'], /must not name the same election twice.*"billing"/],
      ['an empty array', [], /must be a non-empty array of election names/],
      ['not an array', 'billing', /must be a non-empty array of election names/],
    ])('elections %s are rejected, naming "elections" and the rule', async (_what, elections, rule) => {
      const error = await bootError({ ...valid(), elections });
      expect(error.message).toContain('option "elections"');
      expect(error.message).toMatch(rule);
    });

    it.each([
      ['longer than 182 characters', 'c'.repeat(183)],
      ['empty', ''],
      ['not a string', 7],
    ])('a candidateId %s is rejected, naming candidateId and its limit', async (_what, candidateId) => {
      const error = await bootError({ ...valid(), candidateId });
      expect(error.message).toContain('option "candidateId"');
      expect(error.message).toMatch(
        /must be a string of 1 to 182 characters \(a random suffix is appended\)/,
      );
    });

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

    it.each(['lease; DROP TABLE x', 'a-b', '', '1lease', 'lease table', '`lease`', 'x'.repeat(65), 42])(
      'tableName %p, not a plain SQL identifier, is rejected, naming tableName and the rule',
      async (tableName) => {
        const error = await bootError({ ...valid(), tableName });
        expect(error.message).toContain('option "tableName"');
        expect(error.message).toMatch(/must be a plain SQL identifier/);
      },
    );

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
        await Promise.all(candidates.map((candidate) => candidate.close()));
        candidates = [];
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
