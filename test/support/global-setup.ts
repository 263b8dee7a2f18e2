import {
  canConnect,
  DEFAULT_MYSQL_URL,
  startThrowawayServer,
  type ThrowawayServer,
} from '../../tools/mysql-server';

declare global {
  var __LEADER_ELECTION_THROWAWAY__: ThrowawayServer | undefined;
}

/**
 * Uses MYSQL_URL (default: the local MariaDB). When nothing answers there, starts a throwaway server
 * for this run and points every test worker at it through MYSQL_URL.
 */
export default async function globalSetup(): Promise<void> {
  const url = process.env.MYSQL_URL ?? DEFAULT_MYSQL_URL;
  if (await canConnect(url)) {
    process.env.MYSQL_URL = url;
    return;
  }
  console.log(
    `\n[test setup] No server answers at ${new URL(url).host}; starting a throwaway MariaDB/MySQL...`,
  );
  const server = await startThrowawayServer();
  globalThis.__LEADER_ELECTION_THROWAWAY__ = server;
  process.env.MYSQL_URL = server.url;
  console.log(`[test setup] Throwaway server on port ${server.port}.`);
}
