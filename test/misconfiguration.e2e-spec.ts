// What a new user gets wrong in the first hour, and what the module then says (issue: no silent
// misconfiguration). Each case asserts the words of its message.
import { CandidatePool, FAST_TIMING, waitUntil } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';

describe('misconfiguration is reported, never silent (real MariaDB)', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);

  beforeAll(async () => {
    db = await createTestDatabase('misconfig');
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await db.drop();
  });

  it('service.settings gives timing, table and elections but never the connection or its password', async () => {
    const password = 'Sett1ngs-s3cret';
    const { url } = await db.createUser(password);
    const candidate = await pool.start('settings', 'lease_settings', { connection: url });
    await waitUntil(() => candidate.service.isLeader(), 5_000, 'the candidate to lead');
    const { settings } = candidate.service;
    expect(settings).toMatchObject({
      elections: ['default'],
      tableName: 'lease_settings',
      leaseDurationMs: FAST_TIMING.leaseDurationMs,
      renewIntervalMs: FAST_TIMING.renewIntervalMs,
      pollIntervalMs: FAST_TIMING.pollIntervalMs,
      safetyMarginMs: FAST_TIMING.safetyMarginMs,
    });
    expect(Object.isFrozen(settings)).toBe(true);
    expect('connection' in settings).toBe(false);
    expect(JSON.stringify(settings)).not.toContain(password);
  }, 30_000);
});
