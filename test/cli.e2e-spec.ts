import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createLeaseTableSql } from 'nestjs-leader-election';
import { FAST_TIMING, sleep, startCandidate, waitUntil, type Candidate } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';

// The operator's CLI, run as a child process (through the TypeScript loader, as the built bin would run)
// against the real server.

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'libs/leader-election/src/cli/main.ts');

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', join(ROOT, 'tools/register-ts.js'), MAIN, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the nestjs-leader-election CLI', () => {
  let db: TestDatabase;
  const candidates: Candidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('cli');
  });

  afterEach(async () => {
    await Promise.all(candidates.splice(0).map((candidate) => candidate.close()));
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function candidate(
    election: string,
    leaseDurationMs: number = FAST_TIMING.leaseDurationMs,
  ): Promise<Candidate> {
    const started = await startCandidate({
      options: { connection: db.url, elections: [election], ...FAST_TIMING, leaseDurationMs },
    });
    candidates.push(started);
    return started;
  }

  it('status shows the live holder, its term and a valid lease with time remaining on the DB clock', async () => {
    const leader = await candidate('cli-status');
    await leader.service.waitForLeadership('cli-status');
    const term = leader.service.leadershipOf('cli-status')?.term;

    const human = await cli(['status', '--url', db.url]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    const line = human.stdout.split('\n').find((text) => text.startsWith('cli-status'));
    expect(line?.split(/\s+/)).toEqual([
      'cli-status',
      leader.service.candidateId,
      String(term),
      'valid',
      expect.stringMatching(/^\d+\.\d+s$/),
    ]);

    const json = await cli(['status', '--json'], { MYSQL_URL: db.url });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { table: string; elections: Record<string, unknown>[] };
    expect(parsed.table).toBe('leader_election_lease');
    const row = parsed.elections.find((election) => election.election === 'cli-status');
    expect(row).toEqual({
      election: 'cli-status',
      holder: leader.service.candidateId,
      term,
      valid: true,
      remainingMs: expect.any(Number),
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/),
      resigned: false,
    });
    expect(row?.remainingMs).toBeGreaterThan(0);
    expect(row?.remainingMs).toBeLessThanOrEqual(FAST_TIMING.leaseDurationMs);
  }, 60_000);

  it('status reports an expired lease once its holder has released it', async () => {
    const leader = await candidate('cli-released');
    await leader.service.waitForLeadership('cli-released');
    await leader.close();
    const { code, stdout } = await cli(['status', '--json', '--url', db.url]);
    expect(code).toBe(0);
    const row = (
      JSON.parse(stdout) as { elections: { election: string; valid: boolean; remainingMs: number }[] }
    ).elections.find((election) => election.election === 'cli-released');
    expect(row?.valid).toBe(false);
    expect(row?.remainingMs).toBeLessThan(0);
  }, 60_000);

  it('sql prints createLeaseTableSql() for the --table given, without a connection', async () => {
    expect(await cli(['sql'])).toEqual({ code: 0, stdout: `${createLeaseTableSql()};\n`, stderr: '' });
    expect((await cli(['sql', '--table', 'ops_lease'])).stdout).toBe(
      `${createLeaseTableSql('ops_lease')};\n`,
    );
  });

  it('migrate creates the lease table, after which status lists no elections', async () => {
    const before = await cli(['status', '--url', db.url, '--table', 'cli_migrated']);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('migrate');
    const migrated = await cli(['migrate', '--url', db.url, '--table', 'cli_migrated']);
    expect(migrated).toMatchObject({ code: 0, stderr: '' });
    const tables = await db.query<Record<string, string>[]>(`SHOW TABLES LIKE 'cli_migrated'`);
    expect(tables).toHaveLength(1);
    const after = await cli(['status', '--json', '--url', db.url, '--table', 'cli_migrated']);
    expect(JSON.parse(after.stdout)).toEqual({ table: 'cli_migrated', elections: [] });
  }, 60_000);

  it('a wrong password fails with exit code 1 and the password appears in neither stdout nor stderr', async () => {
    const { url } = await db.createUser('right-Secret-42');
    const wrong = new URL(url);
    wrong.password = 'Wrong-Secret-77';
    for (const args of [
      ['status', '--url', wrong.toString()],
      ['migrate', '--json', '--url', wrong.toString()],
    ]) {
      const result = await cli(args);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/Access denied/);
      for (const output of [result.stdout, result.stderr]) {
        expect(output).not.toContain('Wrong-Secret-77');
        expect(output).not.toContain('right-Secret-42');
      }
    }
    const fromEnv = await cli(['status'], { MYSQL_URL: wrong.toString() });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr + fromEnv.stdout).not.toContain('Wrong-Secret-77');
  }, 60_000);

  it('an unknown command or option, a missing argument and the commands not built yet exit with code 2', async () => {
    const unknown = await cli(['elect', '--url', db.url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "elect"');
    expect((await cli(['status', '--verbose', '--url', db.url])).code).toBe(2);
    expect((await cli(['resign', '--url', db.url])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    for (const args of [['history'], ['runs'], ['jobs']]) {
      const result = await cli([...args, '--url', db.url]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('not available yet');
    }
    expect((await cli(['status', '--to', 'host:1', '--url', db.url])).code).toBe(2);
    expect((await cli(['resign', 'x', '--to', 'host:1', '--wait', 'soon', '--url', db.url])).code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 .*1 .*\n?.*2 /s);
  }, 60_000);

  it('resign makes the holder step down and no standby leads before the old leader has stopped believing', async () => {
    // A lease much longer than R and than the CLI's start: expiring the row at once would show.
    const first = await candidate('cli-resign', 6_000);
    await first.service.waitForLeadership('cli-resign');
    const second = await candidate('cli-resign', 6_000);
    const [leader, standby] = first.service.isLeader('cli-resign') ? [first, second] : [second, first];
    const term = leader.service.leadershipOf('cli-resign')?.term as number;

    let overlapped = false;
    let newTermAt = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (leader.service.isLeader('cli-resign') && standby.service.isLeader('cli-resign'))
          overlapped = true;
        const newTerm = [leader, standby].some(
          (candidate) => (candidate.service.leadershipOf('cli-resign')?.term ?? 0) > term,
        );
        if (newTerm && !newTermAt) newTermAt = Date.now();
        await sleep(2);
      }
    })();

    const resignedAt = Date.now();
    const resigned = await cli(['resign', 'cli-resign', '--json', '--url', db.url]);
    expect(resigned.code).toBe(0);
    const result = JSON.parse(resigned.stdout) as { remainingMs: number };
    expect(result).toMatchObject({
      election: 'cli-resign',
      outcome: 'resigned',
      holder: leader.service.candidateId,
      term,
    });
    // The holder steps down at its next renewal (R = 300 ms; generous bound for a loaded machine).
    await waitUntil(
      () => !leader.service.isLeader('cli-resign') || newTermAt > 0,
      5_000,
      'the holder to step down',
    );
    await waitUntil(() => newTermAt > 0, 15_000, 'a new term');
    sampling = false;
    await sampler;
    expect(overlapped).toBe(false);
    // Nobody took the lease before the expiry the holder had set (read by the CLI, on the DB clock).
    expect(newTermAt).toBeGreaterThanOrEqual(resignedAt + result.remainingMs - 20);
    expect((await cli(['resign', 'no-such', '--url', db.url])).code).toBe(1);
  }, 60_000);

  it('resign --to hands the lease to the named candidate: it takes the next term, never two leaders; exit 0', async () => {
    const election = 'cli-handover';
    const all = [await candidate(election, 6_000)];
    await all[0].service.waitForLeadership(election);
    all.push(await candidate(election, 6_000), await candidate(election, 6_000));
    await sleep(1_000);
    const leader = all.find((c) => c.service.isLeader(election))!;
    const target = all.filter((c) => c !== leader)[1];
    const term = leader.service.leadershipOf(election)!.term;
    let overlapped = false;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (all.filter((c) => c.service.isLeader(election)).length > 1) overlapped = true;
        await sleep(2);
      }
    })();

    const result = await cli([
      'resign',
      election,
      '--to',
      target.service.candidateId,
      '--json',
      '--url',
      db.url,
    ]);
    sampling = false;
    await sampler;
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { elapsedMs: number };
    expect(parsed).toMatchObject({
      election,
      to: target.service.candidateId,
      outcome: 'handed-over',
      from: leader.service.candidateId,
      fromTerm: term,
      holder: target.service.candidateId,
    });
    // The holder acts at its next renewal (R = 300 ms), not when the 6 s lease runs out.
    expect(parsed.elapsedMs).toBeLessThan(3_000);
    await waitUntil(() => target.service.isLeader(election), 2_000, 'the target to lead');
    expect(overlapped).toBe(false);

    // A target that does not exist: the others take over after the window, and the CLI says so (exit 1).
    const gone = await cli(['resign', election, '--to', 'gone:0000', '--url', db.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('was not taken by gone:0000');
  }, 60_000);
});
