import type { LeaseErrorKind } from './lease-store';
import { classifyMysqlError, mustDestroyConnection, type DriverErrorLike } from './mysql-errors';

// docs/design.md, "Errors": every errno and code listed there, with its class.
const SERVER_ERRNOS: [number, LeaseErrorKind][] = [
  [1213, 'not-applied'], // ER_LOCK_DEADLOCK
  [1205, 'not-applied'], // ER_LOCK_WAIT_TIMEOUT
  [1317, 'not-applied'], // ER_QUERY_INTERRUPTED
  [1969, 'not-applied'], // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  [3024, 'not-applied'], // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  [1047, 'not-applied'], // ER_UNKNOWN_COM_ERROR (Galera node not ready)
  [3100, 'not-applied'], // ER_RUN_HOOK_ERROR (group replication refused the commit)
  [3101, 'not-applied'], // ER_TRANSACTION_ROLLBACK_DURING_COMMIT
  [1040, 'not-applied'], // ER_CON_COUNT_ERROR
  [1290, 'not-applied'], // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  [1836, 'not-applied'], // ER_READ_ONLY_MODE
  [1180, 'outcome-unknown'], // ER_ERROR_DURING_COMMIT
  [1927, 'outcome-unknown'], // ER_CONNECTION_KILLED
  [1053, 'outcome-unknown'], // ER_SERVER_SHUTDOWN
  [4031, 'outcome-unknown'], // ER_CLIENT_INTERACTION_TIMEOUT
  [1044, 'configuration'], // ER_DBACCESS_DENIED_ERROR
  [1045, 'configuration'], // ER_ACCESS_DENIED_ERROR
  [1049, 'configuration'], // ER_BAD_DB_ERROR
  [1054, 'configuration'], // ER_BAD_FIELD_ERROR
  [1064, 'configuration'], // ER_PARSE_ERROR
  [1142, 'configuration'], // ER_TABLEACCESS_DENIED_ERROR
  [1146, 'configuration'], // ER_NO_SUCH_TABLE
];

const DRIVER_CODES: [string, LeaseErrorKind][] = [
  ['PROTOCOL_SEQUENCE_TIMEOUT', 'outcome-unknown'],
  ['PROTOCOL_CONNECTION_LOST', 'outcome-unknown'],
  ['ECONNRESET', 'outcome-unknown'],
  ['EPIPE', 'outcome-unknown'],
  ['ECONNREFUSED', 'unreachable'],
  ['ETIMEDOUT', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
];

describe('classifyMysqlError (docs/design.md, "Errors")', () => {
  it.each(SERVER_ERRNOS)('classifies server errno %i as %s', (errno, kind) => {
    expect(classifyMysqlError({ errno, code: 'ER_SOMETHING', fatal: false })).toBe(kind);
  });

  it.each(DRIVER_CODES)('classifies driver code %s as %s', (code, kind) => {
    expect(classifyMysqlError({ code })).toBe(kind);
    // Node's socket errors carry a negative OS errno beside the code; the code decides.
    expect(classifyMysqlError({ code, errno: -104, fatal: true })).toBe(kind);
  });

  it('classifies an unknown fatal error as outcome-unknown', () => {
    expect(classifyMysqlError({ code: 'SOME_NEW_DRIVER_ERROR', fatal: true })).toBe('outcome-unknown');
    expect(classifyMysqlError({ errno: 9999, fatal: true })).toBe('outcome-unknown');
    expect(classifyMysqlError({ fatal: true })).toBe('outcome-unknown');
  });

  it('treats an unknown non-fatal server error as not applied (the server answered and refused)', () => {
    expect(classifyMysqlError({ errno: 9999, code: 'ER_NEW', fatal: false })).toBe('not-applied');
  });

  it('classifies a commit refused by a Galera node outside the primary component (1180 "Not connected to Primary Component") as not-applied', () => {
    // As measured on a node resumed after a 10 s pause: the write set was never replicated.
    const error: DriverErrorLike = {
      errno: 1180,
      code: 'ER_ERROR_DURING_COMMIT',
      fatal: false,
      message:
        'Error while appending streaming replication fragment(provider status: Not connected to Primary Component)',
    };
    expect(classifyMysqlError(error)).toBe('not-applied');
    // Any other error during commit stays outcome unknown.
    expect(classifyMysqlError({ errno: 1180, fatal: false, message: 'Got error 5 during COMMIT' })).toBe(
      'outcome-unknown',
    );
  });

  it('keeps a listed server errno in its class even when the driver marks it fatal', () => {
    expect(classifyMysqlError({ errno: 1045, fatal: true })).toBe('configuration');
    expect(classifyMysqlError({ errno: 1927, fatal: true })).toBe('outcome-unknown');
  });
});

describe('mustDestroyConnection', () => {
  it.each([1290, 1836])(
    'drops the connection on read-only errno %i before the retry (not applied)',
    (errno) => {
      const error: DriverErrorLike = { errno, fatal: false };
      expect(classifyMysqlError(error)).toBe('not-applied');
      expect(mustDestroyConnection(error)).toBe(true);
    },
  );

  it.each(
    SERVER_ERRNOS.filter(([errno, kind]) => kind === 'not-applied' && errno !== 1290 && errno !== 1836),
  )('keeps the connection on retryable errno %i', (errno) => {
    expect(mustDestroyConnection({ errno, fatal: false })).toBe(false);
  });

  it.each([
    ...SERVER_ERRNOS.filter(([, kind]) => kind === 'outcome-unknown').map(
      ([errno]) => ({ errno }) as DriverErrorLike,
    ),
    ...DRIVER_CODES.map(([code]) => ({ code }) as DriverErrorLike),
    { code: 'SOME_NEW_DRIVER_ERROR', fatal: true },
    { errno: 1213, fatal: true },
  ])('drops the connection after an outcome-unknown, unreachable or fatal error: %o', (error) => {
    expect(mustDestroyConnection(error)).toBe(true);
  });
});
