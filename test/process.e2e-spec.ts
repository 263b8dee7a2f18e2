// The compiled demo app (apps/demo) as real OS processes against the real MariaDB: crash, graceful stop,
// a paused leader, health while the database goes away, and no password in any output.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sleep, waitFor } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';
import {
  buildIfStale,
  DemoProcess,
  repoRoot,
  type DemoTiming,
  type HttpAnswer,
  type LeaderJson,
} from '../tools/demo-process';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

const TIMING: DemoTiming = {
  leaseDurationMs: 3_000,
  renewIntervalMs: 600,
  pollIntervalMs: 600,
  safetyMarginMs: 600,
};
const L = TIMING.leaseDurationMs;
const P = TIMING.pollIntervalMs;

/** `/leader` of every instance that answers. */
async function states(instances: DemoProcess[]): Promise<{ instance: DemoProcess; state: LeaderJson }[]> {
  const answers = await Promise.all(
    instances.map(async (instance) => {
      try {
        return { instance, state: await instance.leader(1_000) };
      } catch {
        return undefined;
      }
    }),
  );
  return answers.filter((answer) => answer !== undefined);
}

/** Waits until exactly one of `instances` reports itself leader. */
function waitForOneLeader(instances: DemoProcess[], timeoutMs: number) {
  return waitFor(
    async () => {
      const leaders = (await states(instances)).filter(({ state }) => state.role === 'leader');
      return leaders.length === 1 ? { leader: leaders[0].instance, state: leaders[0].state } : undefined;
    },
    timeoutMs,
    'exactly one leader',
  );
}

/** Waits until `/health` (or `?requireLeader=1`) of `instance` answers `status`. */
function waitForHealth(instance: DemoProcess, status: number, timeoutMs: number, requireLeader = false) {
  return waitFor<HttpAnswer>(
    async () => {
      const answer = await instance.health(requireLeader);
      return answer.status === status ? answer : undefined;
    },
    timeoutMs,
    `${instance.name} /health${requireLeader ? '?requireLeader=1' : ''} to answer ${status}`,
  );
}

/** The indicator's entry of a Terminus answer. */
function indicator(answer: HttpAnswer): Record<string, unknown> {
  const body = JSON.parse(answer.body) as { details: Record<string, Record<string, unknown>> };
  return body.details.leaderElection;
}

interface LeaseRowText {
  holder: string;
  term: number | string;
  expires_at: string;
}

describe('the compiled demo app as real OS processes (real MariaDB)', () => {
  let db: TestDatabase;
  let running: DemoProcess[] = [];
  let proxies: TcpProxy[] = [];
  let table = 0;

  beforeAll(async () => {
    // The compiled library and demo, exactly as `npm run demo` runs them; built here on a fresh clone.
    buildIfStale();
    db = await createTestDatabase('process');
  }, 180_000);

  afterEach(async () => {
    for (const instance of running) instance.kill();
    await Promise.all(running.map((instance) => instance.waitForExit(10_000).catch(() => undefined)));
    running = [];
    await Promise.all(proxies.map((proxy) => proxy.close()));
    proxies = [];
  });

  afterAll(async () => {
    for (const instance of running) instance.kill();
    await db?.drop();
  });

  const nextTable = (label: string) => `lease_${label}_${++table}`;

  async function start(name: string, tableName: string, url = db.url): Promise<DemoProcess> {
    const instance = await DemoProcess.start({ name, mysqlUrl: url, tableName, timing: TIMING });
    running.push(instance);
    return instance;
  }

  async function startCluster(tableName: string, count = 3): Promise<DemoProcess[]> {
    // One at a time: three Nest boots at once on two cores would starve the first leader's renewals.
    const instances: DemoProcess[] = [];
    for (let i = 1; i <= count; i++) instances.push(await start(`demo-${i}`, tableName));
    return instances;
  }

  const readLease = async (tableName: string): Promise<LeaseRowText> =>
    (
      await db.query<LeaseRowText[]>(
        `SELECT holder, term, expires_at FROM \`${tableName}\` WHERE name = 'default'`,
      )
    )[0];

  it('after SIGKILL of the leader another instance leads within L + 1 s, never before the old lease expired (DB clock)', async () => {
    const tableName = nextTable('kill');
    const cluster = await startCluster(tableName);
    const { leader, state } = await waitForOneLeader(cluster, 15_000);
    await sleep(1_000);

    leader.kill();
    const killedAt = Date.now();
    await leader.waitForExit();
    // Read after the kill, so that a renewal sent just before it is counted; well before the lease can end.
    await sleep(200);
    const old = await readLease(tableName);
    expect(old.holder).toBe(leader.candidateId);
    expect(Number(old.term)).toBe(state.term);

    const survivors = cluster.filter((instance) => instance !== leader);
    const next = await waitForOneLeader(survivors, L + 5_000);
    const handoverMs = Date.now() - killedAt;
    expect(handoverMs).toBeLessThanOrEqual(L + 1_000);

    const [taken] = await db.query<
      { holder: string; term: number | string; after_expiry_us: number | string }[]
    >(
      `SELECT holder, term, TIMESTAMPDIFF(MICROSECOND, ?, acquired_at) AS after_expiry_us
       FROM \`${tableName}\` WHERE name = 'default'`,
      [old.expires_at],
    );
    expect(taken.holder).toBe(next.leader.candidateId);
    expect(Number(taken.term)).toBe(state.term + 1);
    expect(next.state.term).toBe(state.term + 1);
    expect(Number(taken.after_expiry_us)).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it('after SIGTERM of the leader another instance leads within P + 1 s, under the next term', async () => {
    const tableName = nextTable('term');
    const cluster = await startCluster(tableName);
    const { leader, state } = await waitForOneLeader(cluster, 15_000);
    await sleep(1_000);

    leader.signal('SIGTERM');
    const terminatedAt = Date.now();
    const survivors = cluster.filter((instance) => instance !== leader);
    const next = await waitForOneLeader(survivors, P + 5_000);
    const handoverMs = Date.now() - terminatedAt;
    expect(handoverMs).toBeLessThanOrEqual(P + 1_000);
    expect(next.state.term).toBe(state.term + 1);

    const exit = await leader.waitForExit();
    // Nest re-raises the signal after its shutdown hooks ran.
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(leader.output()).toContain(
      `Stepped down as leader of "default" (term ${state.term}): the application is shutting down.`,
    );
  }, 60_000);

  it('a leader paused (SIGSTOP) for 2 x L runs no leader-only job after SIGCONT, reports follower, and the term has moved on', async () => {
    const tableName = nextTable('stop');
    const cluster = await startCluster(tableName);
    const { leader, state } = await waitForOneLeader(cluster, 15_000);
    await waitFor(
      async () => (leader.jobRuns().length > 0 ? true : undefined),
      3_000,
      'a job run on the leader',
    );
    expect(
      leader.jobRuns().every((run) => run.term === state.term && run.candidateId === leader.candidateId),
    ).toBe(true);

    leader.signal('SIGSTOP');
    const stoppedAt = Date.now();
    const survivors = cluster.filter((instance) => instance !== leader);
    const next = await waitForOneLeader(survivors, L + 5_000);
    expect(next.state.term).toBeGreaterThan(state.term);

    await sleep(Math.max(0, stoppedAt + 2 * L - Date.now()));
    const resumedAt = Date.now();
    leader.signal('SIGCONT');

    const woken = await waitFor(
      async () => {
        const seen = await leader.leader();
        return seen.term > state.term ? seen : undefined;
      },
      P + 3_000,
      'the resumed instance to read the new term',
    );
    expect(woken.role).toBe('follower');
    expect(woken.leaderId).toBe(next.leader.candidateId);
    // Two more ticks of the 1 s interval on the resumed instance.
    await sleep(2_500);
    expect((await leader.leader()).role).toBe('follower');
    expect(leader.jobRuns().filter((run) => run.at >= resumedAt)).toEqual([]);
    expect(leader.output()).toMatch(
      new RegExp(`Stepped down as leader of "default" \\(term ${state.term}\\)`),
    );
    // Meanwhile the job went on, on the new leader only, under its term.
    expect(next.leader.jobRuns().some((run) => run.at >= resumedAt && run.term === next.state.term)).toBe(
      true,
    );
  }, 60_000);

  it('/health is 200 on leader and followers, 503 with a reason while the database does not answer, 200 again after; requireLeader is 503 on followers', async () => {
    const tableName = nextTable('health');
    const direct = await startCluster(tableName, 2);
    const { leader } = await waitForOneLeader(direct, 15_000);
    const { hostname, port } = new URL(db.url);
    const proxy = await startTcpProxy({ host: hostname, port: Number(port || 3306) });
    proxies.push(proxy);
    const proxied = await start('demo-proxied', tableName, proxy.via(db.url));
    await waitFor(
      async () => ((await proxied.leader()).leaderId === leader.candidateId ? true : undefined),
      5_000,
      'the proxied instance to see the leader',
    );
    const all = [...direct, proxied];
    const followers = all.filter((instance) => instance !== leader);

    for (const instance of all) expect((await instance.health()).status).toBe(200);
    expect((await leader.health(true)).status).toBe(200);
    for (const follower of followers) {
      const refused = await follower.health(true);
      expect(refused.status).toBe(503);
      expect(indicator(refused)).toMatchObject({
        status: 'down',
        role: 'follower',
        leaderId: leader.candidateId,
      });
      expect(indicator(refused).reason).toMatch(/not the leader/);
    }

    // The database refuses connections (as when its server is down).
    await proxy.refuse();
    const refusedAnswer = await waitForHealth(proxied, 503, L + 2_000);
    expect(indicator(refusedAnswer)).toMatchObject({ status: 'down', role: 'follower' });
    expect(indicator(refusedAnswer).reason).toMatch(/lease statements fail|no lease statement/);
    expect(indicator(refusedAnswer).lastError).toEqual(expect.any(String));
    expect((await leader.health()).status).toBe(200);
    await proxy.forward();
    await waitForHealth(proxied, 200, P + 3_000);

    // The database stops answering: connections stay open, nothing comes back.
    proxy.blackhole();
    const silentAnswer = await waitForHealth(proxied, 503, L + 3_000);
    expect(indicator(silentAnswer).reason).toMatch(/lease statements fail|no lease statement/);
    expect((await leader.health()).status).toBe(200);
    await proxy.forward();
    const back = await waitForHealth(proxied, 200, L + 3_000);
    expect(indicator(back)).toMatchObject({ status: 'up', role: 'follower', lastError: null });
  }, 90_000);

  it('no health answer, /leader answer, log line or error message contains the database password', async () => {
    const tableName = nextTable('secret');
    const user = `le_pw_${randomBytes(4).toString('hex')}`;
    const password = `Pw${randomBytes(12).toString('hex')}`;
    const wrongPassword = `Wrong${randomBytes(12).toString('hex')}`;
    const hosts = ['%', 'localhost', '127.0.0.1'];
    const withCredentials = (secret: string) => {
      const url = new URL(db.url);
      url.username = user;
      url.password = secret;
      return url.toString();
    };
    const admin = (sql: string, params: unknown[]) => db.query(sql, params);
    try {
      for (const host of hosts) {
        await admin('CREATE USER ?@? IDENTIFIED BY ?', [user, host, password]);
        await admin(`GRANT ALL ON \`${db.name}\`.* TO ?@?`, [user, host]);
      }
      const { hostname, port } = new URL(db.url);
      const proxy = await startTcpProxy({ host: hostname, port: Number(port || 3306) });
      proxies.push(proxy);
      const good = await start('demo-secret', tableName, proxy.via(withCredentials(password)));
      const wrong = await start('demo-wrong', tableName, withCredentials(wrongPassword));
      const bodies: string[] = [];
      const collect = async (instance: DemoProcess) => {
        for (const answer of [await instance.health(), await instance.health(true)]) bodies.push(answer.body);
        bodies.push(JSON.stringify(await instance.leader()));
      };

      await waitForHealth(good, 200, 10_000, true);
      const denied = await waitForHealth(wrong, 503, 10_000);
      expect(indicator(denied)).toMatchObject({ lastErrorKind: 'configuration' });
      expect(indicator(denied).lastError).toMatch(/Access denied/);
      await collect(good);
      await collect(wrong);

      // Connection errors with the right password in the URL too.
      await proxy.refuse();
      await waitForHealth(good, 503, L + 2_000);
      await collect(good);
      await proxy.forward();
      await waitForHealth(good, 200, L + 3_000);
      await collect(good);

      await Promise.all([good.stop(), wrong.stop()]);
      const texts = [...bodies, good.output(), wrong.output()];
      expect(wrong.output()).toMatch(/Access denied/);
      for (const secret of [password, wrongPassword]) {
        for (const text of texts) expect(text).not.toContain(secret);
      }
    } finally {
      for (const host of hosts) await admin('DROP USER IF EXISTS ?@?', [user, host]);
    }
  }, 90_000);

  it('the main entry loads without @nestjs/terminus; only nestjs-leader-election/health needs it', () => {
    const script = `
      const Module = require('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === '@nestjs/terminus' || request.startsWith('@nestjs/terminus/')) throw new Error('blocked ' + request);
        return resolve.call(this, request, ...rest);
      };
      const main = require('nestjs-leader-election');
      let healthError = null;
      try { require('nestjs-leader-election/health'); } catch (error) { healthError = error.message; }
      Module._resolveFilename = resolve;
      const health = require('nestjs-leader-election/health');
      console.log(JSON.stringify({
        service: typeof main.LeaderElectionService,
        healthInMain: 'LeaderElectionHealthIndicator' in main,
        healthError,
        indicator: typeof health.LeaderElectionHealthIndicator,
        module: typeof health.LeaderElectionHealthModule,
      }));`;
    const run = spawnSync(process.execPath, ['-e', script], { cwd: repoRoot(), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      service: 'function',
      healthInMain: false,
      healthError: expect.stringContaining('blocked @nestjs/terminus'),
      indicator: 'function',
      module: 'function',
    });
  });
});
