import type { LeaderElectionModuleOptions } from 'nestjs-leader-election';

/** The demo's settings, read from the environment. */
export interface DemoConfig {
  /** `PORT`, default 3000; `0` picks a free port (the ready line names it). */
  readonly port: number;
  /** `HOST`, default 127.0.0.1. */
  readonly host: string;
  /** `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`. */
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
}

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

function integer(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Environment variable ${name} must be a non-negative integer (got "${raw}").`);
  }
  return value;
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
