import type { LeaderElectionModuleOptions } from 'nestjs-leader-election';

/** The demo's settings, read from the environment. */
export interface DemoConfig {
  /** `PORT`, default 3000; `0` picks a free port (the ready line names it). */
  readonly port: number;
  /** `HOST`, default 127.0.0.1. */
  readonly host: string;
  /** `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/leader_election_demo` (created by `npm run demo`). */
  readonly mysqlUrl: string;
  /** `CANDIDATE_ID`: readable prefix of the candidate id (a random suffix is always appended). */
  readonly candidateId: string | undefined;
  /** `LEASE_TABLE`: the lease table, default the library's. */
  readonly tableName: string | undefined;
  /** `LEASE_MS`, `RENEW_MS`, `POLL_MS`, `MARGIN_MS`: lease timings; the library's defaults when unset. */
  readonly timing: Pick<
    LeaderElectionModuleOptions,
    'leaseDurationMs' | 'renewIntervalMs' | 'pollIntervalMs' | 'safetyMarginMs'
  >;
  /** `JOB_MS`, default 1000: how often the leader-only job runs (and appends to the ledger). */
  readonly jobIntervalMs: number;
  /** `LEDGER_TABLE`, default `demo_ledger`: the job's own table, in the database of `MYSQL_URL`. */
  readonly ledgerTable: string;
  /** `RUNS_TABLE`: the runs table of the run-once job (`runsTableName`), default the library's. */
  readonly runsTable: string | undefined;
  /** `ONCE_TABLE`, default `demo_once`: the run-once job appends (job, occurrence, instance) to it. */
  readonly onceTable: string;
  /**
   * `FENCE_HOLD_MS`, default 0: for tests, how long the job keeps its fenced transaction open (lease row
   * locked) before its insert and commit, so that a signal can land inside it.
   */
  readonly fenceHoldMs: number;
}

/** Injection token of the `DemoConfig` the app was registered with. */
export const DEMO_CONFIG = Symbol('DemoConfig');

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/leader_election_demo';
export const DEFAULT_LEDGER_TABLE = 'demo_ledger';
export const DEFAULT_ONCE_TABLE = 'demo_once';

function integer(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Environment variable ${name} must be a non-negative integer (got "${raw}").`);
  }
  return value;
}

function positive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = integer(env, name);
  if (value === 0) throw new Error(`Environment variable ${name} must be a positive integer (got "0").`);
  return value;
}

function tableName(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[A-Za-z0-9_]{1,64}$/.test(raw)) {
    throw new Error(
      `Environment variable ${name} must be a table name of 1 to 64 letters, digits or _ (got "${raw}").`,
    );
  }
  return raw;
}

/** Reads the demo's settings; throws naming the variable when one is malformed. */
export function readDemoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  return {
    port: integer(env, 'PORT') ?? 3000,
    host: env.HOST || '127.0.0.1',
    mysqlUrl: env.MYSQL_URL || DEFAULT_MYSQL_URL,
    candidateId: env.CANDIDATE_ID || undefined,
    tableName: env.LEASE_TABLE || undefined,
    timing: {
      leaseDurationMs: integer(env, 'LEASE_MS'),
      renewIntervalMs: integer(env, 'RENEW_MS'),
      pollIntervalMs: integer(env, 'POLL_MS'),
      safetyMarginMs: integer(env, 'MARGIN_MS'),
    },
    jobIntervalMs: positive(env, 'JOB_MS') ?? 1000,
    ledgerTable: tableName(env, 'LEDGER_TABLE') ?? DEFAULT_LEDGER_TABLE,
    runsTable: tableName(env, 'RUNS_TABLE'),
    onceTable: tableName(env, 'ONCE_TABLE') ?? DEFAULT_ONCE_TABLE,
    fenceHoldMs: integer(env, 'FENCE_HOLD_MS') ?? 0,
  };
}

/** `user@host:port/database` of a connection URI, never its password: safe for a log line. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.username ? `${decodeURIComponent(parsed.username)}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparseable MYSQL_URL)';
  }
}
