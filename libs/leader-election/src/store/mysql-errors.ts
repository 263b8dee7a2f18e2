import { LeaseStoreError, type LeaseErrorKind } from './lease-store';
import { redactSecrets } from './redact';

// docs/design.md, "Errors": server errnos and mysql2 codes, by what the elector must do about them.
const NOT_APPLIED = new Set<number>([1213, 1205, 1317, 1969, 3024, 1047, 3100, 3101, 1040, 1290, 1836]);
const OUTCOME_UNKNOWN_ERRNOS = new Set<number>([1180, 1927, 1053, 4031]);
const OUTCOME_UNKNOWN_CODES = new Set<string>([
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
]);
const UNREACHABLE_CODES = new Set<string>([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const CONFIGURATION = new Set<number>([1044, 1045, 1046, 1049, 1054, 1064, 1142, 1146]);
/** Read-only server (1290, 1836): the connection may point at a demoted primary; drop it before retrying. */
const DESTROY_BEFORE_RETRY = new Set<number>([1290, 1836]);

/** The fields of a mysql2 error that decide what to do with it. */
export interface DriverErrorLike {
  readonly errno?: number;
  readonly code?: string;
  readonly fatal?: boolean;
  readonly message?: string;
}

/**
 * A Galera node outside the primary component refuses a commit with 1180 and the provider status "Not
 * connected to Primary Component": its write set was never replicated, so nothing applied.
 */
export function isOutsidePrimaryComponent(error: DriverErrorLike): boolean {
  return (
    error.errno === 1047 ||
    (error.errno === 1180 && /not connected to primary component/i.test(String(error.message ?? '')))
  );
}

/** Classifies a mysql2 error by the table of docs/design.md ("Errors"); anything unknown and fatal counts as outcome unknown. */
export function classifyMysqlError(error: DriverErrorLike): LeaseErrorKind {
  const { errno, code, fatal } = error;
  if (errno !== undefined && CONFIGURATION.has(errno)) return 'configuration';
  if (errno !== undefined && NOT_APPLIED.has(errno)) return 'not-applied';
  if (isOutsidePrimaryComponent(error)) return 'not-applied';
  if (errno !== undefined && OUTCOME_UNKNOWN_ERRNOS.has(errno)) return 'outcome-unknown';
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (code !== undefined && OUTCOME_UNKNOWN_CODES.has(code)) return 'outcome-unknown';
  if (fatal) return 'outcome-unknown';
  return 'not-applied';
}

/** True when the connection that saw this error must not be reused. */
export function mustDestroyConnection(error: DriverErrorLike): boolean {
  const kind = classifyMysqlError(error);
  return (
    error.fatal === true ||
    kind === 'outcome-unknown' ||
    kind === 'unreachable' ||
    (error.errno !== undefined && DESTROY_BEFORE_RETRY.has(error.errno))
  );
}

/** Wraps a driver error as a classified `LeaseStoreError` whose message holds no credentials. */
export function toLeaseStoreError(error: unknown, secrets: readonly string[]): LeaseStoreError {
  if (error instanceof LeaseStoreError) return error;
  const driverError = (error ?? {}) as DriverErrorLike & { message?: string };
  const message = redactSecrets(String(driverError.message ?? error), secrets);
  // Node's socket errors carry a negative OS errno (-111 for ECONNREFUSED): report their code instead.
  const serverErrno =
    driverError.errno !== undefined && driverError.errno > 0 ? driverError.errno : undefined;
  return new LeaseStoreError(
    classifyMysqlError(driverError),
    message,
    serverErrno ?? driverError.code ?? driverError.errno,
  );
}
