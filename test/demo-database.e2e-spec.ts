import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { DEFAULT_DEMO_MYSQL_URL, prepareDemoDatabase } from '../scripts/demo-database';
import type { ThrowawayServer } from '../tools/mysql-server';
import { createTestDatabase, mysqlUrl, withDatabase, type TestDatabase } from './support/database';

// `npm run demo` works in a database of its own and, when the server answers but that database is
// missing, creates it (or says it could not), instead of reporting that no server answers.

const noThrowaway = (): Promise<ThrowawayServer> =>
  Promise.reject(new Error('would start a throwaway server although the server answers'));

async function databaseExists(name: string): Promise<boolean> {
  const conn = await createConnection({ uri: mysqlUrl() });
  try {
    const [rows] = await conn.query(
      'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [name],
    );
    return (rows as unknown[]).length > 0;
  } finally {
    await conn.end();
  }
}

async function dropDatabase(name: string): Promise<void> {
  const conn = await createConnection({ uri: mysqlUrl() });
  await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await conn.end();
}

describe('the demo database', () => {
  let granted: TestDatabase;

  beforeAll(async () => {
    granted = await createTestDatabase('demo_database');
  });
  afterAll(async () => {
    await granted.drop();
  });

  it('defaults to a database of its own, leader_election_demo, not the shared test database', () => {
    expect(new URL(DEFAULT_DEMO_MYSQL_URL).pathname).toBe('/leader_election_demo');
  });

  it('creates its database when the server answers but the database is missing, on that same server', async () => {
    const name = `le_demo_missing_${randomBytes(3).toString('hex')}`;
    const url = withDatabase(mysqlUrl(), name);
    try {
      expect(await databaseExists(name)).toBe(false);
      const prepared = await prepareDemoDatabase(url, noThrowaway);
      expect(prepared.url).toBe(url);
      expect(prepared.throwaway).toBeUndefined();
      expect(await databaseExists(name)).toBe(true);
      expect(prepared.notes.join('\n')).toContain(`created database ${name}`);
    } finally {
      await dropDatabase(name);
    }
  });

  it('says the database is missing and how to create it when it may not create it, not that no server answers', async () => {
    const { url: userUrl } = await granted.createUser('secret-pw');
    const name = `le_demo_denied_${randomBytes(3).toString('hex')}`;
    const error = await prepareDemoDatabase(withDatabase(userUrl, name), noThrowaway).then(
      () => new Error('resolved'),
      (e: Error) => e,
    );
    expect(error.message).toContain(`database ${name} does not exist`);
    expect(error.message).toContain(`CREATE DATABASE \`${name}\``);
    expect(error.message).toContain('MYSQL_URL');
    expect(error.message).not.toContain('No server answers');
    expect(error.message).not.toContain('secret-pw');
    expect(await databaseExists(name)).toBe(false);
  });

  it('uses an existing database as it is', async () => {
    const prepared = await prepareDemoDatabase(granted.url, noThrowaway);
    expect(prepared.url).toBe(granted.url);
    expect(prepared.notes).toEqual([]);
  });
});
