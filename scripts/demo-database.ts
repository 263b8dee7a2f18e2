// Where `npm run demo` runs: a database of its own (`leader_election_demo`, created when missing) on the
// server of MYSQL_URL, or on a throwaway server when none answers there.
import { createConnection } from 'mysql2/promise';
import { canConnect, startThrowawayServer, type ThrowawayServer } from '../tools/mysql-server';
import { describeDatabase } from '../apps/demo/src/demo.config';

export { describeDatabase };

/** The demo's own database, so that it never writes into the shared `test` database. */
export const DEMO_DATABASE = 'leader_election_demo';
/** The demo's URL unless MYSQL_URL says otherwise. */
export const DEFAULT_DEMO_MYSQL_URL = `mysql://root@127.0.0.1:3306/${DEMO_DATABASE}`;

/** The database the demo works in. */
export interface DemoDatabase {
  /** The URL the demo's instances connect to. */
  readonly url: string;
  /** The server the demo started for itself, stopped at the end; `undefined` when MYSQL_URL's answered. */
  readonly throwaway: ThrowawayServer | undefined;
  /** What the demo did to get there, one line each, for its console. */
  readonly notes: readonly string[];
}

/**
 * Finds the server of `url` (a URL without a database means `leader_election_demo`) and makes sure its
 * database exists, creating it when missing. Starts a throwaway server (`startServer`, replaceable for
 * tests) only when no server answers at all; throws a message naming the fix when the server answers but
 * the database is missing and cannot be created.
 */
export async function prepareDemoDatabase(
  url: string,
  startServer: () => Promise<ThrowawayServer> = startThrowawayServer,
): Promise<DemoDatabase> {
  const database = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || DEMO_DATABASE;
  const notes: string[] = [];
  let serverUrl = withDatabase(url, '');
  let throwaway: ThrowawayServer | undefined;
  if (!(await canConnect(serverUrl))) {
    throwaway = await startServer();
    serverUrl = withDatabase(throwaway.url, '');
    notes.push(`No server answers at ${describeDatabase(url)}; started a throwaway MariaDB/MySQL.`);
  }
  try {
    if (await ensureDatabase(serverUrl, database)) {
      notes.push(`The server answers; created database ${database} (it was missing).`);
    }
  } catch (error) {
    await throwaway?.stop();
    throw error;
  }
  return { url: withDatabase(serverUrl, database), throwaway, notes };
}

/** Creates `database` when missing; true when it created it. */
async function ensureDatabase(serverUrl: string, database: string): Promise<boolean> {
  const conn = await createConnection({ uri: serverUrl });
  try {
    const [rows] = await conn.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [
      database,
    ]);
    if ((rows as unknown[]).length > 0) return false;
    try {
      await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\``);
      return true;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `The server at ${describeDatabase(serverUrl)} answers, but database ${database} does not exist ` +
          `and could not be created (${reason}). Create it (CREATE DATABASE \`${database}\`) or set ` +
          'MYSQL_URL to a database this user may use.',
        { cause: error },
      );
    }
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** `url` with its database part replaced by `database` (empty: none). */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
