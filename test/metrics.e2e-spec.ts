// Metrics through a real OpenTelemetry SDK: each app has its own MeterProvider with the Prometheus
// exporter on a port of its own, and the test scrapes `/metrics` over HTTP as Prometheus would.
import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { LeaderOnly } from 'nestjs-leader-election';
import { freePort } from '../tools/mysql-server';
import { CandidatePool, FAST_TIMING, sleep, waitFor, waitUntil, type Candidate } from './support/candidates';
import { createTestDatabase, withDatabase, type TestDatabase } from './support/database';

/** One sample of the Prometheus text format: `name{labels} value`. */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** An app with its own SDK and exporter, and a way to scrape it. */
interface MeteredApp {
  readonly candidate: Candidate;
  /** The samples of `/metrics` now. */
  scrape(): Promise<Sample[]>;
  close(): Promise<void>;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, v]) => s.labels[key] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

describe('metrics through OpenTelemetry, scraped from the Prometheus exporter', () => {
  let db: TestDatabase;
  const pool = new CandidatePool(() => db.url, FAST_TIMING);
  const providers: MeterProvider[] = [];
  let tables = 0;

  beforeAll(async () => {
    db = await createTestDatabase('metrics');
  });
  afterEach(async () => {
    await pool.closeAll();
    await Promise.all(providers.splice(0).map((provider) => provider.shutdown()));
  });
  afterAll(async () => {
    await db.drop();
  });

  async function startMetered(
    name: string,
    options: Record<string, unknown>,
    extra: { imports?: never[]; providers?: never[]; connection?: string; global?: boolean } = {},
  ): Promise<MeteredApp> {
    const port = await freePort();
    const exporter = new PrometheusExporter({ port, host: '127.0.0.1' });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    providers.push(meterProvider);
    // `global`: registered as the global provider of @opentelemetry/api, and not passed as an option.
    if (extra.global) metrics.setGlobalMeterProvider(meterProvider);
    const candidate = await pool.startApp({
      options: {
        ...options,
        candidateId: name,
        ...(extra.global ? {} : { meterProvider }),
        ...(extra.connection ? { connection: extra.connection } : {}),
      },
      imports: extra.imports,
      providers: extra.providers,
    });
    return {
      candidate,
      async scrape() {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        expect(response.status).toBe(200);
        const text = await response.text();
        if (process.env.DUMP_METRICS) process.stderr.write(text);
        return parseMetrics(text);
      },
      close: () => candidate.close(),
    };
  }

  it('leader 1 and standby 0 (also as leader_election_master_status), term as in the lease row, transitions by reason after a handover', async () => {
    const table = `lease_${++tables}`;
    const a = await startMetered('a', { tableName: table });
    await waitUntil(() => a.candidate.service.isLeader(), 5_000, 'a to lead');
    const b = await startMetered('b', { tableName: table });
    await waitUntil(
      () => b.candidate.service.getState().leaderId === a.candidate.service.candidateId,
      5_000,
      'b to see a lead',
    );
    await sleep(2 * FAST_TIMING.renewIntervalMs); // a few renewals
    const termOf = async () =>
      Number(
        (await db.query<{ term: number }[]>(`SELECT term FROM ${table} WHERE name = 'default'`))[0].term,
      );

    let sa = await a.scrape();
    let sb = await b.scrape();
    const election = { election: 'default' };
    expect(value(sa, 'leader_election_is_leader', election)).toBe(1);
    expect(value(sb, 'leader_election_is_leader', election)).toBe(0);
    expect(value(sa, 'leader_election_master_status', { name: 'default' })).toBe(1);
    expect(value(sb, 'leader_election_master_status', { name: 'default' })).toBe(0);
    const term1 = await termOf();
    expect(value(sa, 'leader_election_term', election)).toBe(term1);
    expect(value(sb, 'leader_election_term', election)).toBe(term1);
    expect(value(sa, 'leader_election_transitions_total', { ...election, reason: 'elected' })).toBe(1);
    expect(
      value(sb, 'leader_election_transitions_total', { ...election, reason: 'elected' }),
    ).toBeUndefined();
    expect(value(sa, 'leader_election_renewal_duration_seconds_count', election)).toBeGreaterThanOrEqual(1);
    expect(value(sa, 'leader_election_renewal_margin_seconds_count', election)).toBeGreaterThanOrEqual(1);
    // The margin left at a renewal is below L - M and, on an idle local server, far above zero.
    const marginSum = value(sa, 'leader_election_renewal_margin_seconds_sum', election)!;
    const marginCount = value(sa, 'leader_election_renewal_margin_seconds_count', election)!;
    expect(marginSum / marginCount).toBeLessThanOrEqual(
      (FAST_TIMING.leaseDurationMs - FAST_TIMING.safetyMarginMs) / 1000,
    );
    expect(marginSum / marginCount).toBeGreaterThan(0);

    await a.candidate.service.resign();
    await waitUntil(() => b.candidate.service.isLeader(), 5_000, 'b to take over');
    sa = await a.scrape();
    sb = await b.scrape();
    const term2 = await termOf();
    expect(term2).toBeGreaterThan(term1);
    expect(value(sa, 'leader_election_is_leader', election)).toBe(0);
    expect(value(sb, 'leader_election_is_leader', election)).toBe(1);
    expect(value(sb, 'leader_election_master_status', { name: 'default' })).toBe(1);
    expect(value(sb, 'leader_election_term', election)).toBe(term2);
    expect(value(sa, 'leader_election_transitions_total', { ...election, reason: 'resigned' })).toBe(1);
    expect(value(sb, 'leader_election_transitions_total', { ...election, reason: 'elected' })).toBe(1);
    // b saw the lease free between a's release and its own acquisition: a stretch ended, time counted.
    expect(value(sb, 'leader_election_leaderless_duration_seconds_count', election)).toBeGreaterThanOrEqual(
      1,
    );
    expect(value(sb, 'leader_election_leaderless_seconds_total', election)).toBeGreaterThan(0);
    expect(value(sb, 'leader_election_statement_errors_total', election)).toBeUndefined();

    await b.close(); // graceful shutdown: one more transition on b
    await waitUntil(() => a.candidate.service.isLeader(), 5_000, 'a to lead again');
    sa = await a.scrape();
    expect(value(sa, 'leader_election_transitions_total', { ...election, reason: 'elected' })).toBe(2);
    expect(value(sa, 'leader_election_term', election)).toBe(await termOf());
  });

  it('without the meterProvider option, reports to the global MeterProvider of @opentelemetry/api registered before the app started', async () => {
    try {
      const app = await startMetered('global', { tableName: `lease_${++tables}` }, { global: true });
      await waitUntil(() => app.candidate.service.isLeader(), 5_000, 'the app to lead');
      const samples = await app.scrape();
      expect(value(samples, 'leader_election_is_leader', { election: 'default' })).toBe(1);
      expect(value(samples, 'leader_election_transitions_total', { reason: 'elected' })).toBe(1);
    } finally {
      metrics.disable();
    }
  });

  it('counts failed lease statements by class: a missing database is a configuration error', async () => {
    const app = await startMetered(
      'lost',
      { tableName: `lease_${++tables}` },
      { connection: withDatabase(db.url, `${db.name}_missing`) },
    );
    await waitUntil(() => app.candidate.service.getState().lastErrorKind !== null, 5_000, 'a failure');
    const samples = await app.scrape();
    expect(
      value(samples, 'leader_election_statement_errors_total', {
        election: 'default',
        kind: 'configuration',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'leader_election_is_leader', { election: 'default' })).toBe(0);
  });

  it('counts once-job runs by job and outcome, missed occurrences, and the last success time', async () => {
    const EVERY_MS = 200;
    @Injectable()
    class Jobs {
      @LeaderOnly({ once: true, missed: 'skip' })
      @Interval(EVERY_MS)
      async ok(): Promise<void> {}

      @LeaderOnly({ once: true, missed: 'skip' })
      @Interval(EVERY_MS)
      async broken(): Promise<void> {
        throw new Error('broken on purpose');
      }
    }
    const n = ++tables;
    const options = { tableName: `lease_${n}`, runsTableName: `runs_${n}` };
    const setup = { imports: [ScheduleModule.forRoot() as never], providers: [Jobs as never] };
    const first = await startMetered('first', options, setup);
    await waitUntil(() => first.candidate.service.isLeader(), 5_000, 'first to lead');
    await sleep(6 * EVERY_MS);
    const before = Date.now();
    await sleep(2 * EVERY_MS);
    const samples = await first.scrape();
    const runs = (job: string, outcome: string) =>
      value(samples, 'leader_election_once_runs_total', { election: 'default', job, outcome });
    expect(runs('Jobs.ok', 'succeeded')).toBeGreaterThanOrEqual(3);
    expect(runs('Jobs.broken', 'failed')).toBeGreaterThanOrEqual(3);
    expect(runs('Jobs.broken', 'succeeded')).toBeUndefined();
    const lastSuccess = value(samples, 'leader_election_once_last_success_timestamp_seconds', {
      election: 'default',
      job: 'Jobs.ok',
    })!;
    expect(lastSuccess * 1000).toBeGreaterThanOrEqual(before - EVERY_MS);
    expect(lastSuccess * 1000).toBeLessThanOrEqual(Date.now());
    expect(
      value(samples, 'leader_election_once_last_success_timestamp_seconds', {
        election: 'default',
        job: 'Jobs.broken',
      }),
    ).toBeUndefined();

    // Nobody leads for a while: the next leader records what passed as missed (policy 'skip').
    await first.close();
    await sleep(8 * EVERY_MS);
    const second = await startMetered('second', options, setup);
    await waitUntil(() => second.candidate.service.isLeader(), 5_000, 'second to lead');
    const missed = await waitFor(
      async () =>
        value(await second.scrape(), 'leader_election_once_missed_total', {
          election: 'default',
          job: 'Jobs.ok',
        }),
      5_000,
      'missed occurrences to be counted',
    );
    expect(missed).toBeGreaterThanOrEqual(5);
  });
});
