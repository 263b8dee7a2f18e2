import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import {
  publicSettings,
  resolveLeaderElectionOptions,
  type LeaderElectionModuleOptions,
} from './leader-election.options';

// Every option rule of docs/design.md, checked on resolveLeaderElectionOptions() alone: no Nest app, no database.
// Each error is a LeaderElectionConfigError that names the option and the rule, and never echoes a password.
// test/bad-input.e2e-spec.ts checks that an app with bad options fails to boot with these same errors.

const CONNECTION = 'mysql://root@127.0.0.1:3306/test';
/** L = 1.5 s, R = P = M = 300 ms: valid together. */
const TIMING = {
  leaseDurationMs: 1_500,
  renewIntervalMs: 300,
  pollIntervalMs: 300,
  safetyMarginMs: 300,
} as const;
const valid = (): LeaderElectionModuleOptions => ({ connection: CONNECTION, ...TIMING });

/** The error `options` are rejected with. */
function configError(options: unknown): LeaderElectionConfigError {
  try {
    resolveLeaderElectionOptions(options as LeaderElectionModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(LeaderElectionConfigError);
    return error as LeaderElectionConfigError;
  }
  throw new Error('resolveLeaderElectionOptions() accepted invalid options.');
}

describe('resolveLeaderElectionOptions', () => {
  describe('connection', () => {
    it.each([
      ['absent', {}],
      ['undefined', { connection: undefined }],
      ['null', { connection: null }],
      ['a number', { connection: 3306 }],
    ])('a connection that is %s is rejected, saying it is required and how to give one', (_what, options) => {
      const error = configError({ ...TIMING, ...options });
      expect(error.message).toMatch(/option "connection" is required/);
      expect(error.message).toMatch(/mysql:\/\/user:password@host:3306\/database/);
      expect(error.message).toMatch(/mysql2 pool options \(\{ host, port, user, password, database \}\)/);
    });

    it('a list of nodes (Galera) is accepted; an empty list or an invalid entry is rejected', () => {
      const nodes = ['mysql://root@127.0.0.1:3307/test', { host: '127.0.0.1', port: 3308, user: 'root' }];
      expect(resolveLeaderElectionOptions({ ...TIMING, connection: nodes }).connection).toEqual(nodes);
      expect(configError({ ...TIMING, connection: [] }).message).toMatch(/"connection" is an empty list/);
      expect(configError({ ...TIMING, connection: ['postgres://x@h/db'] }).message).toMatch(
        /option "connection" must be/,
      );
    });

    it.each([
      'postgres://admin:Sup3rSecretPw@db.internal:5432/app',
      'admin:Sup3rSecretPw@db.internal:3306/app',
      'http://admin:Sup3rSecretPw@db.internal/app',
      'Sup3rSecretPw',
      '',
    ])(
      'the connection string %p, not a mysql:// URI, is rejected without echoing the string or its password',
      (connection) => {
        const error = configError({ ...TIMING, connection });
        expect(error.message).toMatch(/option "connection" must be a URI like "mysql:\/\//);
        expect(error.message).not.toContain('Sup3rSecretPw');
        expect(error.message).not.toContain('db.internal');
        if (connection) expect(error.message).not.toContain(connection);
      },
    );

    it.each([
      ['empty pool options', {}],
      ['pool options without host', { user: 'root', password: 'Sup3rSecretPw', database: 'test' }],
    ])('%s are rejected, naming "host" and the accepted forms, without the password', (_what, connection) => {
      const error = configError({ ...TIMING, connection });
      expect(error.message).toMatch(/option "connection" needs "host" \(or "socketPath" or "uri"\)/);
      expect(error.message).not.toContain('Sup3rSecretPw');
    });

    it('pool options whose uri is not mysql:// are rejected like a bad URI string', () => {
      const error = configError({
        ...TIMING,
        connection: { uri: 'postgres://u:Sup3rSecretPw@h/db' },
      });
      expect(error.message).toMatch(/option "connection" must be a URI like "mysql:\/\//);
      expect(error.message).not.toContain('Sup3rSecretPw');
    });
  });

  describe('timing', () => {
    it.each([
      [1_000, 1_000],
      [500, 1_000],
    ])(
      'leaseDurationMs %p <= safetyMarginMs %p is rejected, naming the rule and both values',
      (lease, margin) => {
        const error = configError({
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
      (renew, lease, margin) => {
        const error = configError({
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
      (option, value) => {
        const error = configError({ ...valid(), [option]: value });
        expect(error.message).toContain(`option "${option}"`);
        expect(error.message).toMatch(/must be a positive number of milliseconds/);
      },
    );

    it.each([-1, Number.NaN, 'later', null])(
      'drainTimeoutMs = %p is rejected with a message naming drainTimeoutMs and "non-negative"',
      (value) => {
        const error = configError({ ...valid(), drainTimeoutMs: value });
        expect(error.message).toContain('option "drainTimeoutMs"');
        expect(error.message).toMatch(/must be a non-negative number of milliseconds/);
      },
    );

    it('timing values just inside every rule are accepted (R = L - M - 1, drainTimeoutMs = 0)', () => {
      const settings = resolveLeaderElectionOptions({
        connection: CONNECTION,
        tableName: 'lease_timing_edge',
        leaseDurationMs: 3_000,
        safetyMarginMs: 1_000,
        renewIntervalMs: 1_999,
        pollIntervalMs: 1,
        operationTimeoutMs: 1_500,
        drainTimeoutMs: 0,
      });
      expect(settings).toMatchObject({ renewIntervalMs: 1_999, drainTimeoutMs: 0 });
    });

    it('createTable that is not a boolean is rejected, naming createTable', () => {
      const error = configError({ ...valid(), createTable: 'yes' });
      expect(error.message).toContain('option "createTable"');
      expect(error.message).toMatch(/must be true or false/);
    });

    it('a meterProvider without getMeter() is rejected, naming meterProvider; one with it is kept out of the public settings', () => {
      for (const meterProvider of [{}, null, 'prometheus']) {
        const error = configError({ ...valid(), meterProvider });
        expect(error.message).toContain('option "meterProvider"');
        expect(error.message).toMatch(/must be an OpenTelemetry MeterProvider/);
      }
      const meterProvider = { getMeter: () => ({}) };
      const resolved = resolveLeaderElectionOptions({ ...valid(), meterProvider });
      expect(resolved.meterProvider).toBe(meterProvider);
      expect(publicSettings(resolved)).not.toHaveProperty('meterProvider');
    });
  });

  describe('handover to a chosen candidate', () => {
    it('preferred is off and handoverWindowMs is 2 P by default', () => {
      expect(resolveLeaderElectionOptions(valid())).toMatchObject({
        preferred: undefined,
        handoverWindowMs: 2 * TIMING.pollIntervalMs,
      });
      expect(
        resolveLeaderElectionOptions({ ...valid(), preferred: 'eu-', handoverWindowMs: 250 }),
      ).toMatchObject({ preferred: 'eu-', handoverWindowMs: 250 });
    });

    it.each([
      ['empty', ''],
      ['not a string', 42],
      ['longer than a holder', 'x'.repeat(192)],
    ])('a preferred prefix that is %s is rejected, naming preferred', (_, preferred) => {
      const error = configError({ ...valid(), preferred });
      expect(error.message).toContain('option "preferred"');
      expect(error.message).toMatch(/candidate id prefix of 1 to 191 characters/);
    });

    it('a handoverWindowMs that is not a positive number is rejected, naming handoverWindowMs', () => {
      expect(configError({ ...valid(), handoverWindowMs: 0 }).message).toContain('handoverWindowMs');
      expect(configError({ ...valid(), handoverWindowMs: '500' }).message).toContain('handoverWindowMs');
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
    ])('elections %s are rejected, naming "elections" and the rule', (_what, elections, rule) => {
      const error = configError({ ...valid(), elections });
      expect(error.message).toContain('option "elections"');
      expect(error.message).toMatch(rule);
    });

    it.each([
      ['without a prefix', [{ count: 4 }], /needs a group prefix/],
      ['with "~" in its prefix', [{ prefix: 'a~', count: 4 }], /without "~"/],
      ['with count 0', [{ prefix: 'shard-', count: 0 }], /whole number from 1 to 1024/],
      ['with count 2.5', [{ prefix: 'shard-', count: 2.5 }], /whole number from 1 to 1024/],
      ['with an unknown key', [{ prefix: 'shard-', count: 4, size: 4 }], /only \{ prefix, count \}/],
      ['overlapping a name', ['shard-1', { prefix: 'shard-', count: 4 }], /same election twice.*"shard-1"/],
    ])('a balanced group %s is rejected, naming "elections" and the rule', (_what, elections, rule) => {
      const error = configError({ ...valid(), elections: elections as never });
      expect(error.message).toContain('option "elections"');
      expect(error.message).toMatch(rule);
    });

    it('a balanced group expands to its elections, alone or beside names', () => {
      const alone = resolveLeaderElectionOptions({ ...valid(), elections: { prefix: 's', count: 3 } });
      expect(alone.elections).toEqual(['s0', 's1', 's2']);
      expect(alone.balanced).toEqual([{ prefix: 's', count: 3 }]);
      const mixed = resolveLeaderElectionOptions({
        ...valid(),
        elections: ['billing', { prefix: 'tenant-', count: 2 }],
      });
      expect(mixed.elections).toEqual(['billing', 'tenant-0', 'tenant-1']);
    });

    it.each([
      ['longer than 182 characters', 'c'.repeat(183)],
      ['empty', ''],
      ['not a string', 7],
    ])('a candidateId %s is rejected, naming candidateId and its limit', (_what, candidateId) => {
      const error = configError({ ...valid(), candidateId });
      expect(error.message).toContain('option "candidateId"');
      expect(error.message).toMatch(
        /must be a string of 1 to 182 characters \(a random suffix is appended\)/,
      );
    });

    it.each(['lease; DROP TABLE x', 'a-b', '', '1lease', 'lease table', '`lease`', 'x'.repeat(65), 42])(
      'tableName %p, not a plain SQL identifier, is rejected, naming tableName and the rule',
      (tableName) => {
        const error = configError({ ...valid(), tableName });
        expect(error.message).toContain('option "tableName"');
        expect(error.message).toMatch(/must be a plain SQL identifier/);
      },
    );
  });
});

describe('the logger option', () => {
  it('accepts a Nest LoggerService and keeps it out of the public settings', () => {
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const resolved = resolveLeaderElectionOptions({ ...valid(), logger });
    expect(resolved.logger).toBe(logger);
    expect(Object.keys(publicSettings(resolved))).not.toContain('logger');
  });

  it.each([
    ['a string', 'console', /got "console"/],
    ['null', null, /got null/],
    ['an object without warn and error', { log: () => undefined }, /has no warn, error methods/],
  ])(
    'a logger that is %s is rejected, naming the option and what a LoggerService needs',
    (_what, logger, got) => {
      const error = configError({ ...valid(), logger });
      expect(error.message).toMatch(/option "logger" must be a Nest LoggerService/);
      expect(error.message).toMatch(/log, warn and error methods/);
      expect(error.message).toMatch(got);
    },
  );
});
