import type { LoggerService } from '@nestjs/common';
import type { PoolOptions } from 'mysql2';
import {
  CANDIDATE_SUFFIX_LENGTH,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_ELECTION,
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_MAX_DOORBELLS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RENEW_INTERVAL_MS,
  DEFAULT_SAFETY_MARGIN_MS,
  DEFAULT_STANDBY_MODE,
} from './leader-election.constants';
import {
  invalidLoggerMessage,
  invalidOptionMessage,
  invalidTableNameMessage,
  numericStringMessage,
  timingRuleMessage,
  unknownOptionMessage,
} from './leader-election.messages';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import {
  DEFAULT_LEASE_TABLE,
  isValidTableName,
  LEASE_HOLDER_MAX_LENGTH,
  LEASE_NAME_MAX_LENGTH,
} from './store/lease-table';
import { DEFAULT_RUNS_TABLE } from './store/runs-table';
import type { LeaderElectionMeterProvider } from './leader-election.metrics';
import { balancedElectionNames, MEMBER_INFIX } from './elector/balanced-group';

/**
 * A group of elections shared out evenly among the live instances ("Balanced leadership" in the README):
 * elections `${prefix}0` … `${prefix}${count - 1}`, each instance leading about `count / instances` of them.
 */
export interface BalancedElections {
  /** The elections' common prefix, e.g. `'shard-'`: names are the prefix and the shard number. */
  readonly prefix: string;
  /** How many elections the group has (1 to 1024). */
  readonly count: number;
}

/** Most elections one balanced group may have. */
export const MAX_BALANCED_COUNT = 1024;
import { DEFAULT_TERMS_TABLE } from './store/terms-table';

/** Options of `LeaderElectionModule.forRoot()`. Only `connection` is required. */
export interface LeaderElectionModuleOptions {
  /**
   * Where the lease table lives: a `mysql://user:password@host:3306/database` URI or mysql2 pool options.
   * The module opens its own pool of 2 connections to it. Point it at the primary, never a replica.
   * For a Galera cluster, a list of the nodes: lease traffic goes to one node at a time (the first that is
   * synced in the primary component) and moves to the next when that node fails or leaves the primary
   * component (docs/design.md, "Topologies").
   */
  connection: string | PoolOptions | readonly (string | PoolOptions)[];
  /**
   * Names of the elections this process takes part in. Default `['default']`. An entry
   * `{ prefix: 'shard-', count: 64 }` (or that object alone) adds a balanced group: elections `shard-0` …
   * `shard-63`, shared out evenly among the live instances (README, "Balanced leadership").
   */
  elections?: readonly (string | BalancedElections)[] | BalancedElections;
  /**
   * A readable prefix for this process's candidate id. A random suffix is always appended, so that two
   * processes never share an id. Default: `hostname:pid`.
   */
  candidateId?: string;
  /** L: how long an acquisition or renewal keeps the lease, on the database's clock. Default 10000. */
  leaseDurationMs?: number;
  /** R: how often the leader renews. Must be below `leaseDurationMs - safetyMarginMs`. Default 2000. */
  renewIntervalMs?: number;
  /** P: how often a follower reads the lease. Default 2000. */
  pollIntervalMs?: number;
  /** M: how much earlier than L the leader stops acting as leader. Default 1000. */
  safetyMarginMs?: number;
  /** Deadline of one lease operation, pool wait included. Default `min(2000, L - M)`. */
  operationTimeoutMs?: number;
  /** The lease table's name. Default `leader_election_lease`. */
  tableName?: string;
  /** Run `CREATE TABLE IF NOT EXISTS` at start. Set `false` when you apply the DDL yourself. Default `true`. */
  createTable?: boolean;
  /** How long shutdown waits for running `@LeaderOnly()` calls before releasing the lease. Default 10000. */
  drainTimeoutMs?: number;
  /**
   * How standbys learn that the lease is free. `doorbell`: the leader holds a MySQL named lock that each
   * standby waits on (one extra connection per election), so a graceful handover takes milliseconds and
   * a standby reads the lease only about once per lease period. `poll`: standbys read the lease every
   * `pollIntervalMs` (for Galera, Group Replication, ProxySQL multiplexing, Vitess). `auto` (default):
   * doorbell, falling back to poll by itself where named locks fail or are not shared.
   */
  standbyMode?: 'auto' | 'doorbell' | 'poll';
  /** At most this many elections per process use a doorbell; the others poll. Default 4. */
  maxDoorbells?: number;
  /**
   * The runs table of `@LeaderOnly({ once: true })` jobs, beside the lease table (created with it unless
   * `createTable: false`; see `createRunsTableSql()`). Default `leader_election_runs`.
   */
  runsTableName?: string;
  /**
   * The leadership history table (one row per term, see `getHistory()`), beside the lease table (created
   * with it unless `createTable: false`; see `createTermsTableSql()`). Default `leader_election_terms`.
   */
  termsTableName?: string;
  /**
   * Runs kept per `once` job, and terms kept per election in the history; older rows are pruned in the
   * background. Default 1000.
   */
  historyLimit?: number;
  /**
   * A candidate id prefix (see `candidateId`): an instance whose id starts with it takes leadership back
   * from a leader whose id does not, by asking it to hand over (within about R). Off by default.
   */
  preferred?: string;
  /**
   * After a handover to a chosen candidate (`resign(election, { to })`, `preferred`), how long the others
   * hold off before anybody may take the lease, should the target not take it. Default 2 × pollIntervalMs.
   */
  handoverWindowMs?: number;
  /**
   * The OpenTelemetry `MeterProvider` the module's metrics go to (README, "Metrics"). Default: the global
   * one of `@opentelemetry/api` as registered when the module starts; none when that package is absent.
   */
  meterProvider?: LeaderElectionMeterProvider;
  /**
   * Where every log line of the module goes (elections, run-once jobs, health): a Nest `LoggerService`,
   * e.g. one app's own logger when several apps share a process. Default: Nest's `Logger` with context
   * `LeaderElection`.
   */
  logger?: LoggerService;
}

/**
 * The module's settings after defaults and validation, without the connection (which may hold a
 * password): what integrations such as health indicators and dashboards need. Frozen.
 */
export interface LeaderElectionSettings {
  /** Every election by name, those of balanced groups included. */
  readonly elections: readonly string[];
  /** The balanced groups (their elections are among `elections`). */
  readonly balanced: readonly BalancedElections[];
  readonly candidateIdPrefix: string | undefined;
  readonly leaseDurationMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly safetyMarginMs: number;
  readonly operationTimeoutMs: number;
  readonly tableName: string;
  readonly createTable: boolean;
  readonly drainTimeoutMs: number;
  readonly standbyMode: 'auto' | 'doorbell' | 'poll';
  readonly maxDoorbells: number;
  readonly runsTableName: string;
  readonly termsTableName: string;
  readonly historyLimit: number;
  readonly preferred: string | undefined;
  readonly handoverWindowMs: number;
}

/** Options after defaults and validation, connection included; frozen. Internal to the module. */
export interface ResolvedLeaderElectionOptions extends LeaderElectionSettings {
  readonly connection: string | PoolOptions | readonly (string | PoolOptions)[];
  readonly meterProvider: LeaderElectionMeterProvider | undefined;
  /** The `logger` option, when given. */
  readonly logger: LoggerService | undefined;
}

/** The settings without the connection, frozen. */
export function publicSettings(options: ResolvedLeaderElectionOptions): LeaderElectionSettings {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the connection and logger are left out on purpose
  const { connection, meterProvider, logger, ...settings } = options;
  return Object.freeze(settings);
}

const fail = (option: string, rule: string, got: unknown): never => {
  throw new LeaderElectionConfigError(invalidOptionMessage(option, rule, got));
};

/** A number given as a string (ConfigService, process.env): say to convert it rather than "must be a number". */
function rejectNumericString(option: string, value: unknown): void {
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    throw new LeaderElectionConfigError(numericStringMessage(option, value));
  }
}

function positiveMs(option: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  rejectNumericString(option, value);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    fail(option, `must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`, value);
  }
  return value as number;
}

const CONNECTION_FORMS =
  'a URI like "mysql://user:password@host:3306/database" or mysql2 pool options ({ host, port, user, password, database })';

function validateConnection(connection: unknown): string | PoolOptions | readonly (string | PoolOptions)[] {
  if (Array.isArray(connection)) {
    if (connection.length === 0) {
      throw new LeaderElectionConfigError(
        `LeaderElectionModule option "connection" is an empty list: pass ${CONNECTION_FORMS}, or a list of them (the nodes of a Galera cluster).`,
      );
    }
    return Object.freeze(connection.map((node: unknown) => validateOneConnection(node)));
  }
  return validateOneConnection(connection);
}

function validateOneConnection(connection: unknown): string | PoolOptions {
  if (typeof connection === 'string') {
    let protocol: string | undefined;
    try {
      protocol = new URL(connection).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol !== 'mysql:' && protocol !== 'mariadb:') {
      // The value itself is not echoed: it may hold a password.
      throw new LeaderElectionConfigError(
        `LeaderElectionModule option "connection" must be ${CONNECTION_FORMS}.`,
      );
    }
    return protocol === 'mariadb:' ? connection.replace(/^mariadb:/, 'mysql:') : connection;
  }
  if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) {
    throw new LeaderElectionConfigError(
      `LeaderElectionModule option "connection" is required: pass ${CONNECTION_FORMS}.`,
    );
  }
  const pool = connection as PoolOptions;
  if (pool.uri !== undefined) {
    validateOneConnection(pool.uri);
  } else if (typeof pool.host !== 'string' && typeof pool.socketPath !== 'string') {
    throw new LeaderElectionConfigError(
      `LeaderElectionModule option "connection" needs "host" (or "socketPath" or "uri"): pass ${CONNECTION_FORMS}.`,
    );
  }
  return pool;
}

function validateElections(elections: unknown): { names: string[]; balanced: BalancedElections[] } {
  if (elections === undefined) return { names: [DEFAULT_ELECTION], balanced: [] };
  const entries: unknown[] = Array.isArray(elections) ? elections : [elections];
  if ((!Array.isArray(elections) && !isGroupLike(elections)) || entries.length === 0) {
    return fail(
      'elections',
      "must be a non-empty array of election names or balanced groups ({ prefix: 'shard-', count: 64 })",
      elections,
    );
  }
  const seen = new Set<string>();
  const balanced: BalancedElections[] = [];
  const add = (name: string) => {
    if (seen.has(name)) fail('elections', 'must not name the same election twice', name);
    seen.add(name);
  };
  for (const entry of entries) {
    if (isGroupLike(entry)) {
      const group = validateGroup(entry);
      balanced.push(group);
      balancedElectionNames(group).forEach(add);
      continue;
    }
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > LEASE_NAME_MAX_LENGTH) {
      fail('elections', `must hold names of 1 to ${LEASE_NAME_MAX_LENGTH} characters`, entry);
    }
    add(entry as string);
  }
  return { names: [...seen], balanced };
}

function isGroupLike(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Room left in a name for the member rows' infix and hash. */
const MAX_PREFIX_LENGTH = LEASE_NAME_MAX_LENGTH - MEMBER_INFIX.length - 16;

function validateGroup(entry: Record<string, unknown>): BalancedElections {
  for (const key of Object.keys(entry)) {
    if (key !== 'prefix' && key !== 'count') {
      fail(
        'elections',
        "balanced groups take only { prefix, count }, e.g. { prefix: 'shard-', count: 64 }",
        key,
      );
    }
  }
  const { prefix, count } = entry;
  if (
    typeof prefix !== 'string' ||
    prefix.length === 0 ||
    prefix.length > MAX_PREFIX_LENGTH ||
    prefix.includes('~')
  ) {
    fail('elections', `needs a group prefix of 1 to ${MAX_PREFIX_LENGTH} characters without "~"`, prefix);
  }
  rejectNumericString('elections[].count', count);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_BALANCED_COUNT) {
    fail('elections', `needs a group count that is a whole number from 1 to ${MAX_BALANCED_COUNT}`, count);
  }
  return Object.freeze({ prefix: prefix as string, count: count as number });
}

/** Every option `forRoot()` / `forRootAsync()` accepts (the latter's factory result is not type-checked). */
const OPTION_KEYS: readonly (keyof LeaderElectionModuleOptions)[] = [
  'connection',
  'elections',
  'candidateId',
  'leaseDurationMs',
  'renewIntervalMs',
  'pollIntervalMs',
  'safetyMarginMs',
  'operationTimeoutMs',
  'tableName',
  'createTable',
  'drainTimeoutMs',
  'standbyMode',
  'maxDoorbells',
  'runsTableName',
  'termsTableName',
  'historyLimit',
  'preferred',
  'handoverWindowMs',
  'meterProvider',
  'logger',
];

function rejectUnknownOptions(options: object): void {
  for (const key of Object.keys(options)) {
    if ((OPTION_KEYS as readonly string[]).includes(key)) continue;
    throw new LeaderElectionConfigError(unknownOptionMessage(key, closestOption(key), OPTION_KEYS));
  }
}

/** The valid option nearest to `key` by edit distance (case-insensitive), when it is a plausible typo. */
function closestOption(key: string): string | undefined {
  let best: { option: string; distance: number } | undefined;
  for (const option of OPTION_KEYS) {
    const distance = editDistance(key.toLowerCase(), option.toLowerCase());
    if (!best || distance < best.distance) best = { option, distance };
  }
  const close =
    best &&
    (best.distance <= Math.max(2, Math.floor(key.length / 3)) ||
      best.option.toLowerCase().startsWith(key.toLowerCase()));
  return close ? best!.option : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Applies defaults and checks every rule of docs/design.md, throwing a `LeaderElectionConfigError` that names
 * the option and the rule.
 */
export function resolveLeaderElectionOptions(
  options: LeaderElectionModuleOptions,
): ResolvedLeaderElectionOptions {
  if (options === null || typeof options !== 'object') {
    throw new LeaderElectionConfigError(
      'LeaderElectionModule.forRoot() needs an options object with at least "connection".',
    );
  }
  rejectUnknownOptions(options);
  const connection = validateConnection(options.connection);
  const { names: elections, balanced } = validateElections(options.elections);

  const maxPrefix = LEASE_HOLDER_MAX_LENGTH - CANDIDATE_SUFFIX_LENGTH;
  const prefix = options.candidateId;
  if (
    prefix !== undefined &&
    (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > maxPrefix)
  ) {
    fail(
      'candidateId',
      `must be a string of 1 to ${maxPrefix} characters (a random suffix is appended)`,
      prefix,
    );
  }

  const leaseDurationMs = positiveMs('leaseDurationMs', options.leaseDurationMs, DEFAULT_LEASE_DURATION_MS);
  const renewIntervalMs = positiveMs('renewIntervalMs', options.renewIntervalMs, DEFAULT_RENEW_INTERVAL_MS);
  const pollIntervalMs = positiveMs('pollIntervalMs', options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS);
  const safetyMarginMs = positiveMs('safetyMarginMs', options.safetyMarginMs, DEFAULT_SAFETY_MARGIN_MS);
  if (leaseDurationMs <= safetyMarginMs) {
    throw new LeaderElectionConfigError(
      timingRuleMessage(
        'leaseDurationMs > safetyMarginMs',
        `leaseDurationMs=${leaseDurationMs}, safetyMarginMs=${safetyMarginMs}`,
      ),
    );
  }
  if (renewIntervalMs >= leaseDurationMs - safetyMarginMs) {
    throw new LeaderElectionConfigError(
      timingRuleMessage(
        'renewIntervalMs < leaseDurationMs - safetyMarginMs',
        `renewIntervalMs=${renewIntervalMs}, leaseDurationMs=${leaseDurationMs}, safetyMarginMs=${safetyMarginMs}`,
      ),
    );
  }
  const operationTimeoutMs = positiveMs(
    'operationTimeoutMs',
    options.operationTimeoutMs,
    Math.min(DEFAULT_OPERATION_TIMEOUT_MS, leaseDurationMs - safetyMarginMs),
  );
  const drainTimeoutMs = positiveMs('drainTimeoutMs', options.drainTimeoutMs, DEFAULT_DRAIN_TIMEOUT_MS, true);

  const tableName = options.tableName ?? DEFAULT_LEASE_TABLE;
  if (typeof tableName !== 'string' || !isValidTableName(tableName)) {
    throw new LeaderElectionConfigError(invalidTableNameMessage(tableName));
  }
  const standbyMode = options.standbyMode ?? DEFAULT_STANDBY_MODE;
  if (!['auto', 'doorbell', 'poll'].includes(standbyMode)) {
    fail('standbyMode', "must be 'auto', 'doorbell' or 'poll'", standbyMode);
  }
  const maxDoorbells = options.maxDoorbells ?? DEFAULT_MAX_DOORBELLS;
  rejectNumericString('maxDoorbells', maxDoorbells);
  if (typeof maxDoorbells !== 'number' || !Number.isInteger(maxDoorbells) || maxDoorbells < 0) {
    fail('maxDoorbells', 'must be a whole number, 0 or more', maxDoorbells);
  }
  const runsTableName = options.runsTableName ?? DEFAULT_RUNS_TABLE;
  if (typeof runsTableName !== 'string' || !isValidTableName(runsTableName)) {
    fail(
      'runsTableName',
      'must be a plain SQL identifier: a letter or _ followed by up to 63 letters, digits, _ or $',
      runsTableName,
    );
  }
  if (runsTableName === tableName) fail('runsTableName', 'must differ from tableName', runsTableName);
  const termsTableName = options.termsTableName ?? DEFAULT_TERMS_TABLE;
  if (typeof termsTableName !== 'string' || !isValidTableName(termsTableName)) {
    fail(
      'termsTableName',
      'must be a plain SQL identifier: a letter or _ followed by up to 63 letters, digits, _ or $',
      termsTableName,
    );
  }
  if (termsTableName === tableName || termsTableName === runsTableName) {
    fail('termsTableName', 'must differ from tableName and runsTableName', termsTableName);
  }
  const logger = validateLogger(options.logger);
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  rejectNumericString('historyLimit', historyLimit);
  if (typeof historyLimit !== 'number' || !Number.isInteger(historyLimit) || historyLimit < 1) {
    fail('historyLimit', 'must be a whole number, 1 or more', historyLimit);
  }
  const meterProvider = options.meterProvider;
  if (
    meterProvider !== undefined &&
    (meterProvider === null || typeof (meterProvider as { getMeter?: unknown }).getMeter !== 'function')
  ) {
    fail(
      'meterProvider',
      'must be an OpenTelemetry MeterProvider (an object with getMeter())',
      meterProvider,
    );
  }
  const createTable = options.createTable ?? true;
  if (typeof createTable !== 'boolean') fail('createTable', 'must be true or false', createTable);
  const preferred = options.preferred;
  if (
    preferred !== undefined &&
    (typeof preferred !== 'string' || preferred.length === 0 || preferred.length > LEASE_HOLDER_MAX_LENGTH)
  ) {
    fail(
      'preferred',
      `must be a candidate id prefix of 1 to ${LEASE_HOLDER_MAX_LENGTH} characters (e.g. the candidateId of the preferred instances)`,
      preferred,
    );
  }
  const handoverWindowMs = positiveMs('handoverWindowMs', options.handoverWindowMs, 2 * pollIntervalMs);

  return Object.freeze({
    connection,
    elections: Object.freeze(elections),
    balanced: Object.freeze(balanced),
    candidateIdPrefix: prefix,
    leaseDurationMs,
    renewIntervalMs,
    pollIntervalMs,
    safetyMarginMs,
    operationTimeoutMs,
    tableName,
    createTable,
    drainTimeoutMs,
    standbyMode,
    maxDoorbells,
    runsTableName,
    termsTableName,
    historyLimit,
    preferred,
    handoverWindowMs,
    meterProvider,
    logger,
  });
}

/** The `logger` option: a Nest `LoggerService` (at least `log`, `warn` and `error` methods). */
function validateLogger(logger: unknown): LoggerService | undefined {
  if (logger === undefined) return undefined;
  const missing =
    logger === null || typeof logger !== 'object'
      ? ['log', 'warn', 'error']
      : (['log', 'warn', 'error'] as const).filter(
          (method) => typeof (logger as Record<string, unknown>)[method] !== 'function',
        );
  if (missing.length > 0) throw new LeaderElectionConfigError(invalidLoggerMessage(logger, missing));
  return logger as LoggerService;
}
