import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createLeaseTableSql, LeaderOnly } from 'nestjs-leader-election';
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

async function waitForRuns(app: Candidate, count: number): Promise<number> {
  let seen = 0;
  await waitUntil(
    () => {
      void app.service.getRuns('cli.tick', { limit: count }).then((rows) => (seen = rows.length));
      return seen >= count;
    },
    15_000,
    `${count} runs of cli.tick`,
  );
  return seen;
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
    const sideTables = await cli([
      'migrate',
      '--url',
      db.url,
      '--table',
      'cli_migrated',
      '--terms-table',
      'cli_migrated_terms',
      '--runs-table',
      'cli_migrated_runs',
    ]);
    expect(sideTables).toMatchObject({ code: 0, stderr: '' });
    expect(await db.query(`SHOW TABLES LIKE 'cli_migrated_%'`)).toHaveLength(2);
    const history = await cli(['history', '--json', '--url', db.url, '--terms-table', 'cli_migrated_terms']);
    expect(JSON.parse(history.stdout)).toEqual({ table: 'cli_migrated_terms', terms: [] });
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
      ['history', '--url', wrong.toString()],
      ['runs', 'some.job', '--json', '--url', wrong.toString()],
      ['jobs', '--url', wrong.toString()],
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

  it('an unknown command or option, a missing or invalid argument exit with code 2', async () => {
    const unknown = await cli(['elect', '--url', db.url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "elect"');
    expect((await cli(['status', '--verbose', '--url', db.url])).code).toBe(2);
    expect((await cli(['resign', '--url', db.url])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['status', '--to', 'host:1', '--url', db.url])).code).toBe(2);
    expect((await cli(['resign', 'x', '--to', 'host:1', '--wait', 'soon', '--url', db.url])).code).toBe(2);
    for (const [args, message] of [
      [['history', 'a', 'b'], 'history takes at most one election'],
      [['runs', 'a', 'b'], 'runs takes at most one job'],
      [['jobs', 'a'], 'Unknown command "jobs a"'],
      [['history', '--limit', '0'], 'Invalid --limit "0"'],
      [['runs', '--limit', 'ten'], 'Invalid --limit "ten"'],
      [['history', '--terms-table', 'a-b'], 'Invalid --terms-table "a-b"'],
      [['jobs', '--runs-table'], 'Option --runs-table needs a value'],
    ]) {
      const result = await cli(['--url', db.url, ...args]);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toContain(message);
    }
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 .*1 .*\n?.*2 /s);
  }, 60_000);

  it('history lists the terms newest first with their end reasons (released, resigned by the CLI), --limit and --json', async () => {
    const first = await candidate('cli-history');
    await first.service.waitForLeadership('cli-history');
    const firstTerm = first.service.leadershipOf('cli-history')!.term;
    const firstId = first.service.candidateId;
    const second = await candidate('cli-history');
    await first.close(); // released: the second takes over
    await second.service.waitForLeadership('cli-history');
    const secondTerm = second.service.leadershipOf('cli-history')!.term;
    await second.service.getHistory('cli-history'); // its acquisition's history writes have landed

    const resigned = await cli(['resign', 'cli-history', '--url', db.url]);
    expect(resigned.code).toBe(0);

    const json = await cli(['history', 'cli-history', '--json', '--url', db.url]);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const parsed = JSON.parse(json.stdout) as {
      table: string;
      election: string;
      terms: {
        term: number;
        holder: string;
        acquiredAt: string;
        endedAt: string | null;
        endReason: string;
      }[];
    };
    expect(parsed.table).toBe('leader_election_terms');
    // With L = 1.5 s the lease may have been taken again (a third term) by the time history runs.
    const ours = parsed.terms.filter((t) => t.term <= secondTerm);
    expect(ours.map(({ term, holder, endReason }) => ({ term, holder, endReason }))).toEqual([
      { term: secondTerm, holder: second.service.candidateId, endReason: 'resigned' },
      { term: firstTerm, holder: firstId, endReason: 'released' },
    ]);
    expect(parsed.terms.every((t, i) => i === 0 || t.term < parsed.terms[i - 1].term)).toBe(true);
    expect(Date.parse(ours[1].endedAt!)).toBeGreaterThanOrEqual(Date.parse(ours[1].acquiredAt));

    const human = await cli(['history', 'cli-history'], { MYSQL_URL: db.url });
    expect(human).toMatchObject({ code: 0, stderr: '' });
    const lines = human.stdout.trim().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'ELECTION',
      'TERM',
      'HOLDER',
      'ACQUIRED (UTC)',
      'ENDED (UTC)',
      'REASON',
    ]);
    const time = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}';
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^cli-history +${firstTerm} +${firstId} +${time} +${time} +released$`),
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^cli-history +${secondTerm} +${second.service.candidateId} +${time} +${time} +resigned$`),
      ),
    );
    const limited = await cli(['history', 'cli-history', '--limit', '1', '--url', db.url]);
    expect(limited.stdout.trim().split('\n')).toHaveLength(2);

    const all = await cli(['history', '--json', '--url', db.url]);
    const elections = (JSON.parse(all.stdout) as { terms: { election: string }[] }).terms.map(
      (t) => t.election,
    );
    expect(elections).toContain('cli-history');
    expect(elections).toContain('cli-status');

    const none = await cli(['history', 'no-such', '--url', db.url]);
    expect(none).toMatchObject({ code: 0, stderr: '' });
    expect(none.stdout).toContain('No terms recorded for "no-such"');
  }, 60_000);

  it('runs and jobs list what a run-once job recorded; a missing runs table exits 1 naming --runs-table', async () => {
    const missing = await cli(['jobs', '--url', db.url, '--runs-table', 'no_runs_here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--runs-table');
    expect(missing.stderr).toContain('migrate');

    @Injectable()
    class Ticker {
      @LeaderOnly({ once: true, job: 'cli.tick' })
      @Interval(200)
      tick(): void {}
    }
    const started = await startCandidate({
      options: { connection: db.url, elections: ['cli-runs'], ...FAST_TIMING },
      imports: [ScheduleModule.forRoot() as never],
      providers: [Ticker],
    });
    candidates.push(started);
    const recorded = await waitForRuns(started, 3);

    const runs = await cli(['runs', 'cli.tick', '--json', '--limit', '2', '--url', db.url]);
    expect(runs).toMatchObject({ code: 0, stderr: '' });
    const parsed = JSON.parse(runs.stdout) as {
      table: string;
      job: string;
      runs: { job: string; occurrence: string; outcome: string; holder: string; term: number }[];
    };
    expect(parsed).toMatchObject({ table: 'leader_election_runs', job: 'cli.tick' });
    expect(parsed.runs).toHaveLength(2);
    const latest = await started.service.getRuns('cli.tick', { limit: 50 });
    expect(latest.length).toBeGreaterThanOrEqual(recorded);
    for (const row of parsed.runs) {
      expect(row).toMatchObject({ job: 'cli.tick', holder: started.service.candidateId });
      expect(['running', 'succeeded']).toContain(row.outcome);
    }
    expect(parsed.runs[0].occurrence > parsed.runs[1].occurrence).toBe(true);

    const human = await cli(['runs', '--url', db.url]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout.split('\n')[0].split(/\s{2,}/)).toEqual([
      'JOB',
      'OCCURRENCE (UTC)',
      'ATTEMPT',
      'OUTCOME',
      'TERM',
      'HOLDER',
      'ERROR',
    ]);
    expect(human.stdout).toMatch(
      /^cli\.tick +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +1 +(succeeded|running) /m,
    );

    const jobs = await cli(['jobs', '--json'], { MYSQL_URL: db.url });
    expect(jobs).toMatchObject({ code: 0, stderr: '' });
    const [job] = (JSON.parse(jobs.stdout) as { jobs: { job: string; runs: number; failed: number }[] }).jobs;
    expect(job).toMatchObject({ job: 'cli.tick', failed: 0 });
    expect(job.runs).toBeGreaterThanOrEqual(recorded);
    const jobsHuman = await cli(['jobs', '--url', db.url]);
    expect(jobsHuman.stdout).toMatch(/^cli\.tick +\d{4}-.* +(succeeded|running) +\d+ +0 +\d+$/m);
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
