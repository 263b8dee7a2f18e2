import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { DEFAULT_MYSQL_URL } from '../../tools/mysql-server';

/** The server under test: MYSQL_URL, else the local default (global setup may have replaced it). */
export function mysqlUrl(): string {
  return process.env.MYSQL_URL ?? DEFAULT_MYSQL_URL;
}

/** `url` with its database part replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A database of one test file's own, dropped by `drop()`. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Runs one statement on a short-lived connection to this database. */
  query<T = Record<string, unknown>[]>(sql: string, params?: unknown[]): Promise<T>;
  /**
   * A MySQL user of its own with all rights on this database (so that one app's sessions can be told
   * apart in the process list), and a URL that connects as it. Dropped with the database.
   */
  createUser(password?: string): Promise<{ user: string; url: string }>;
  /** Drops the database and the users created for it. */
  drop(): Promise<void>;
}

/** Creates a fresh database named after `label`, so that test files can run in parallel. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `le_${label.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40)}_${randomBytes(3).toString('hex')}`;
  const admin = await createConnection({ uri: mysqlUrl() });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.end();
  const url = withDatabase(mysqlUrl(), name);
  const users: string[] = [];
  const database: TestDatabase = {
    name,
    url,
    async createUser(password = '') {
      const user = `le_u_${randomBytes(4).toString('hex')}`;
      users.push(user);
      await database.query(`CREATE USER '${user}'@'%' IDENTIFIED BY ?`, [password]);
      await database.query(`GRANT ALL ON \`${name}\`.* TO '${user}'@'%'`);
      const userUrl = new URL(url);
      userUrl.username = user;
      userUrl.password = password;
      return { user, url: userUrl.toString() };
    },
    async query<T>(sql: string, params: unknown[] = []): Promise<T> {
      const conn = await createConnection({ uri: url, supportBigNumbers: true, dateStrings: true });
      try {
        const [rows] = await conn.query(sql, params);
        return rows as T;
      } finally {
        await conn.end();
      }
    },
    async drop() {
      const conn = await createConnection({ uri: mysqlUrl() });
      for (const user of users) await conn.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
  return database;
}
