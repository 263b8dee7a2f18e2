// Fenced writes across real OS processes: the compiled demo app's leader-only job appends to its ledger
// through runFenced every 100 ms while leaders are paused inside a transaction, killed, stopped and
// resumed. The ledger, read in id (commit) order, must never show a lower term after a higher one, and
// each term's rows must come from one instance. (Renewals against a held transaction: fencing.e2e-spec.ts.)
import { sleep, waitFor } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';
import {
  buildIfStale,
  checkLedger,
  DemoProcess,
  fencedWriteOpen,
  type DemoProcessOptions,
  type DemoTiming,
  type FencedWriteOpen,
  type LedgerRow,
  type LeaderJson,
} from '../tools/demo-process';

// L = 2 s, R = P = M = 400 ms: a leader believes in its lease for 1.6 s after a renewal was sent; MariaDB
// ends a fenced transaction left idle longer than ceil(L) = 2 s.
const TIMING: DemoTiming = {
  leaseDurationMs: 2_000,
  renewIntervalMs: 400,
  pollIntervalMs: 400,
  safetyMarginMs: 400,
};
const L = TIMING.leaseDurationMs;
// L = 1.5 s for the pause: the lease runs out at least 0.5 s before MariaDB's idle_transaction_timeout
// (ceil(L) = 2 s) ends the paused transaction. In that window only the shared lock on the lease row holds
// the takeover back, so the test sees the lock work, not just the timeout.
const PAUSE_TIMING: DemoTiming = {
  leaseDurationMs: 1_500,
  renewIntervalMs: 300,
  pollIntervalMs: 300,
  safetyMarginMs: 300,
};
const JOB_MS = 100;

/** Waits until exactly one of `instances` reports itself leader under a term above `aboveTerm`. */
function waitForLeader(instances: DemoProcess[], aboveTerm: number, timeoutMs: number) {
  return waitFor(
    async () => {
      const answers = await Promise.all(
        instances.map(async (instance) => {
          try {
            return { instance, state: await instance.leader(1_000) };
          } catch {
            return undefined;
          }
        }),
      );
      const leaders = answers.filter(
        (answer): answer is { instance: DemoProcess; state: LeaderJson } =>
          answer !== undefined && answer.state.role === 'leader',
      );
      return leaders.length === 1 && leaders[0].state.term > aboveTerm ? leaders[0] : undefined;
    },
    timeoutMs,
    `exactly one leader with a term above ${aboveTerm}`,
  );
}

interface LeaseRow {
  term: number | string;
  overdue_us: number | string;
}

describe('fenced ledger writes of the compiled demo app as real OS processes (real MariaDB)', () => {
  let db: TestDatabase;
  let running: DemoProcess[] = [];
  let table = 0;

  beforeAll(async () => {
    buildIfStale();
    db = await createTestDatabase('fencing_process');
  }, 180_000);

  afterEach(async () => {
    for (const instance of running) {
      instance.signal('SIGCONT');
      instance.kill();
    }
    await Promise.all(running.map((instance) => instance.waitForExit(10_000).catch(() => undefined)));
    running = [];
  });

  afterAll(async () => {
    for (const instance of running) instance.kill();
    await db?.drop();
  });

  const nextTables = (label: string) => {
    table += 1;
    return { tableName: `lease_${label}_${table}`, ledgerTable: `ledger_${label}_${table}` };
  };

  async function start(
    name: string,
    tables: { tableName: string; ledgerTable: string },
    extra: Pick<DemoProcessOptions, 'timing' | 'fenceHoldMs' | 'onLine'> = {},
  ): Promise<DemoProcess> {
    const instance = await DemoProcess.start({
      name,
      mysqlUrl: db.url,
      ...tables,
      timing: TIMING,
      jobIntervalMs: JOB_MS,
      ...extra,
    });
    running.push(instance);
    return instance;
  }

  const ledgerRows = (ledgerTable: string) =>
    db.query<LedgerRow[]>(`SELECT id, term, instance FROM \`${ledgerTable}\` ORDER BY id`);

  /** Resolves once the ledger holds at least `count` rows under `term`. */
  const waitForRows = (ledgerTable: string, term: number, count: number, timeoutMs: number) =>
    waitFor(
      async () => {
        const [{ n }] = await db.query<{ n: number | string }[]>(
          `SELECT COUNT(*) AS n FROM \`${ledgerTable}\` WHERE term = ?`,
          [term],
        );
        return Number(n) >= count ? Number(n) : undefined;
      },
      timeoutMs,
      `${count} ledger rows under term ${term}`,
    );

  it('a leader SIGSTOPped inside a fenced transaction holds the takeover back past its lease; resumed once another instance took over, its write is refused with NotLeaderError (driver error as cause) and the ledger keeps term order', async () => {
    const tables = nextTables('pause');
    const timing = PAUSE_TIMING;
    // The first instance leads and keeps each fenced transaction open 300 ms (lease row locked) before its
    // insert and commit; once armed, it is stopped the moment it says it holds one open.
    let armed = false;
    let trapped: { open: FencedWriteOpen; stoppedAt: number } | undefined;
    const paused: DemoProcess = await start('demo-paused', tables, {
      timing,
      fenceHoldMs: 300,
      onLine: (line) => {
        const open = armed ? fencedWriteOpen(line) : undefined;
        if (!open) return;
        armed = false;
        paused.signal('SIGSTOP');
        trapped = { open, stoppedAt: Date.now() };
      },
    });
    const { state: first } = await waitForLeader([paused], 0, 10_000);
    const others = [await start('demo-2', tables, { timing }), await start('demo-3', tables, { timing })];
    await waitForRows(tables.ledgerTable, first.term, 3, 10_000);
    expect((await paused.leader()).role).toBe('leader');

    armed = true;
    await waitFor(async () => trapped, 5_000, 'the leader to open a fenced write');
    const { open, stoppedAt } = trapped!;
    // Stopped inside the transaction: before the end of the hold that began when the line was written.
    expect(stoppedAt - open.at).toBeLessThan(open.holdMs);
    expect(open.term).toBe(first.term);
    const writtenBeforeResume = (await ledgerRows(tables.ledgerTable)).filter(
      (row) => row.instance === paused.candidateId,
    ).length;

    // Watch the lease row on the database clock until a new term begins, and resume the paused leader at
    // once: without the shared lock, a follower would take over right at expiry, while MariaDB still
    // keeps the paused transaction (it ends it only after 2 s idle), and the resumed write would commit.
    let overdueUs = 0;
    await waitFor(
      async () => {
        const [row] = await db.query<LeaseRow[]>(
          `SELECT term, TIMESTAMPDIFF(MICROSECOND, expires_at, UTC_TIMESTAMP(6)) AS overdue_us
           FROM \`${tables.tableName}\` WHERE name = 'default'`,
        );
        if (Number(row.term) !== first.term) return true;
        overdueUs = Math.max(overdueUs, Number(row.overdue_us));
        return undefined;
      },
      10_000,
      'a new term on the lease row',
    );
    paused.signal('SIGCONT');
    // The takeover waited for the paused transaction: its lease stayed in place well past its expiry.
    // (Not `acquired_at`: UTC_TIMESTAMP() is the time the acquiring UPDATE started, before it waited.)
    expect(overdueUs).toBeGreaterThan(300_000);

    // The held write is refused with NotLeaderError (its connection was closed by the server while it
    // was paused, and the lease is not its own any more), not a bare driver error.
    const outcome = await waitFor(
      async () =>
        paused.lines.find((line) =>
          new RegExp(`(ledger write of|fenced write committed:) run=${open.run}\\b`).test(line.text),
        )?.text,
      5_000,
      `the outcome of the held write (run ${open.run})`,
    );
    expect(outcome).toMatch(new RegExp(`ledger write of run=${open.run} refused, nothing written`));
    const next = await waitForLeader(others, first.term, 5_000);
    await waitForRows(tables.ledgerTable, next.state.term, 3, 5_000);
    const resumed = await waitFor(
      async () => {
        const seen = await paused.leader();
        return seen.term >= next.state.term ? seen : undefined;
      },
      5_000,
      'the resumed instance to see the new term',
    );
    expect(resumed.role).toBe('follower');
    await Promise.all(running.map((instance) => instance.stop()));

    const rows = await ledgerRows(tables.ledgerTable);
    const check = checkLedger(rows);
    expect(check.problems).toEqual([]);
    expect(check.holders.get(first.term)).toBe(paused.candidateId);
    expect(check.holders.get(next.state.term)).toBe(next.instance.candidateId);
    // The held write added nothing, and the paused instance wrote nothing after it woke.
    const fromPaused = rows.filter((row) => row.instance === paused.candidateId);
    expect(fromPaused).toHaveLength(writtenBeforeResume);
    expect(fromPaused.every((row) => Number(row.term) === first.term)).toBe(true);
  }, 90_000);

  it('20 forced handovers (SIGKILL, SIGTERM, SIGSTOP + SIGCONT after 2 x L) among 3 instances writing every 100 ms: terms never decrease in commit order, each term has one writer', async () => {
    const tables = nextTables('handovers');
    // Each write stays open 50 ms, so that some kills and pauses land inside a fenced transaction.
    const HOLD_MS = 50;
    let started = 0;
    const launch = () => start(`demo-${++started}`, tables, { fenceHoldMs: HOLD_MS });
    // One at a time: three Nest boots at once on two cores would starve the first leader's renewals.
    let live: DemoProcess[] = [];
    for (let i = 0; i < 3; i++) live.push(await launch());

    const kinds = ['SIGKILL', 'SIGTERM', 'SIGSTOP'] as const;
    const done: string[] = [];
    /** term -> candidate id, as /leader reported it. */
    const leaders = new Map<number, string>();
    let current = await waitForLeader(live, 0, 10_000);
    leaders.set(current.state.term, current.instance.candidateId);

    for (let i = 0; i < 20; i++) {
      const kind = kinds[i % kinds.length];
      const victim = current.instance;
      const survivors = live.filter((instance) => instance !== victim);
      const signalledAt = Date.now();
      victim.signal(kind);
      const next = await waitForLeader(survivors, current.state.term, L + 8_000);
      leaders.set(next.state.term, next.instance.candidateId);
      done.push(
        `${kind} ${victim.name} (term ${current.state.term}) -> ${next.instance.name} (term ${next.state.term})`,
      );

      if (kind === 'SIGSTOP') {
        await sleep(Math.max(0, signalledAt + 2 * L - Date.now()));
        victim.signal('SIGCONT');
      } else {
        await victim.waitForExit(10_000);
        live = [...survivors, await launch()];
      }
      // Let the new leader write before the next handover; the check at the end counts the terms.
      await waitForRows(tables.ledgerTable, next.state.term, 1, 3_000).catch(() => undefined);
      current = next;
    }

    await Promise.all(running.map((instance) => instance.stop()));
    const rows = await ledgerRows(tables.ledgerTable);
    const check = checkLedger(rows);
    expect(done).toHaveLength(20);
    expect(check.problems).toEqual([]);
    expect(check.terms.length).toBeGreaterThanOrEqual(15);
    // Each term's writer is the instance that reported itself leader of that term.
    for (const [term, holder] of check.holders) {
      if (leaders.has(term)) expect({ term, holder }).toEqual({ term, holder: leaders.get(term) });
    }
  }, 180_000);
});
