// `npm run demo`: three instances of the demo app (apps/demo) on one lease, a live view, a crash and a
// graceful handover, measured; then a summary. `npm run demo -- --forever` keeps the cluster running until
// Ctrl-C. Compiled by `npm run build` to dist/tools/scripts/demo.js.
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import {
  checkLedger,
  DemoProcess,
  type DemoTiming,
  type LedgerCheck,
  type LedgerRow,
  type JobRun,
  type LeaderJson,
  type OutputLine,
} from '../tools/demo-process';
import type { ThrowawayServer } from '../tools/mysql-server';
import { DEFAULT_DEMO_MYSQL_URL, describeDatabase, prepareDemoDatabase } from './demo-database';

const TIMING: DemoTiming = {
  leaseDurationMs: 3_000,
  renewIntervalMs: 600,
  pollIntervalMs: 600,
  safetyMarginMs: 600,
};
const NAMES = ['demo-1', 'demo-2', 'demo-3'];
/** How often every instance's /leader is sampled for the overlap check. */
const SAMPLE_MS = 100;
/** How long the cluster runs undisturbed between two steps. */
const HOLD_MS = 8_000;
const FOREVER = process.argv.includes('--forever');
const TTY = process.stdout.isTTY === true;
const startedAt = Date.now();

// ---- state ---------------------------------------------------------------------------------------------

/** One of the three instance slots; a slot gets a new process when the scenario restarts it. */
interface Slot {
  readonly name: string;
  proc: DemoProcess | undefined;
  /** Why there is no process: shown in the view. */
  gone: string | undefined;
  state: LeaderJson | undefined;
  health: string;
  lastJob: JobRun | undefined;
}

interface Handover {
  readonly kind: 'crash' | 'graceful';
  readonly from: string;
  readonly fromTerm: number;
  readonly to: string;
  readonly toTerm: number;
  readonly ms: number;
  /** Microseconds between the old lease's expiry and the new acquisition, on the database clock (crash only). */
  readonly afterExpiryUs?: number;
}

const slots: Slot[] = NAMES.map((name) => ({
  name,
  proc: undefined,
  gone: 'not started',
  state: undefined,
  health: '-',
  lastJob: undefined,
}));
const events: string[] = [];
const handovers: Handover[] = [];
/** Sampling rounds in which two or more instances said they lead. */
const overlaps: string[] = [];
/** Every (term -> candidate ids) claimed, from /leader samples and from job lines. */
const termHolders = new Map<number, Set<string>>();
let rounds = 0;
let jobRuns = 0;
let nextStep = '';
let currentLeader: { slot: Slot; term: number; seenAt: number } | undefined;
const leaderWaiters: {
  exclude: Set<Slot>;
  resolve: (leader: { slot: Slot; term: number; seenAt: number }) => void;
}[] = [];

const abort = new AbortController();
let interrupted: NodeJS.Signals | undefined;

// ---- output --------------------------------------------------------------------------------------------

const since = (at = Date.now()) => `+${((at - startedAt) / 1000).toFixed(1)}s`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const pad = (text: string, width: number) =>
  text.length >= width ? text.slice(0, width) : text + ' '.repeat(width - text.length);

function event(text: string): void {
  const line = `${since()}  ${text}`;
  events.push(line);
  if (!TTY) console.log(line);
}

let frameHeight = 0;
function render(final = false): void {
  if (!TTY) {
    if (final) return;
    const parts = slots.map((slot) => {
      if (!slot.proc) return `${slot.name} ${slot.gone}`;
      const role = slot.state ? (slot.state.role === 'leader' ? 'LEADER' : 'follower') : '?';
      return `${slot.name} ${role} t${slot.state?.term ?? '?'} ${slot.health}`;
    });
    console.log(`${since()}  ${parts.join(' | ')}`);
    return;
  }
  const width = Math.max(60, (process.stdout.columns ?? 100) - 1);
  const lines = [
    `nestjs-leader-election demo  ${since()}  L=${TIMING.leaseDurationMs} R=${TIMING.renewIntervalMs} ` +
      `P=${TIMING.pollIntervalMs} M=${TIMING.safetyMarginMs} ms${FOREVER ? '  (--forever: Ctrl-C to stop)' : ''}`,
    '',
    `  ${pad('instance', 10)}${pad('pid', 8)}${pad('role', 10)}${pad('term', 6)}${pad('health', 9)}${pad('leader it sees', 20)}last job`,
    ...slots.map((slot) => {
      const state = slot.state;
      const role = !slot.proc
        ? (slot.gone ?? '-')
        : !state
          ? 'starting'
          : state.role === 'leader'
            ? 'LEADER'
            : 'follower';
      const job = slot.lastJob ? `term ${slot.lastJob.term}, ${since(slot.lastJob.at)}` : '-';
      return (
        `  ${pad(slot.name, 10)}${pad(slot.proc ? String(slot.proc.pid) : '-', 8)}${pad(role, 10)}` +
        `${pad(state ? String(state.term) : '-', 6)}${pad(slot.proc ? slot.health : '-', 9)}` +
        `${pad(state?.leaderId ?? '-', 20)}${job}`
      );
    }),
    '',
    `  ${nextStep}`,
    '',
    'events:',
    ...events.slice(-10).map((line) => `  ${line}`),
  ].map((line) => line.slice(0, width));
  process.stdout.write((frameHeight > 0 ? `\x1b[${frameHeight}F\x1b[J` : '') + lines.join('\n') + '\n');
  frameHeight = lines.length;
}

// ---- instances -----------------------------------------------------------------------------------------

function onLine(slot: Slot, line: OutputLine): void {
  const job = /leader-only job ran: run=\d+ candidate=(\S+) term=(\S+) at=(\S+)/.exec(line.text);
  if (job) {
    const run = { candidateId: job[1], term: Number(job[2]), at: Date.parse(job[3]) };
    slot.lastJob = run;
    jobRuns += 1;
    claim(run.term, run.candidateId, `a job of ${slot.name}`);
    return;
  }
  const library = /\[LeaderElection\] (.*)$/.exec(line.text);
  if (library && /Elected|Stepped down|failed|succeed again/.test(library[1])) {
    event(`${slot.name}: ${library[1]}`);
  } else if (/\[(DemoJobs|DemoLedger)\] .*(refused|failed|could not)/.test(line.text)) {
    event(`${slot.name}: ${line.text.replace(/^.*?\[(DemoJobs|DemoLedger)\] /, '')}`);
  } else if (line.stream === 'stderr' && line.text.trim() !== '') {
    event(`${slot.name} (stderr): ${line.text}`);
  }
}

async function startSlot(slot: Slot, mysqlUrl: string, tableName: string): Promise<void> {
  // The leader-only job appends to this table through runFenced; checked at the end.
  const ledgerTable = `${tableName}_ledger`;
  slot.state = undefined;
  slot.health = '-';
  slot.gone = 'starting';
  const proc = await DemoProcess.start({
    name: slot.name,
    mysqlUrl,
    tableName,
    ledgerTable,
    // The run-once job's runs table and side-effect table, the demo's own: checked and dropped at the end.
    env: { RUNS_TABLE: `${tableName}_runs`, ONCE_TABLE: `${tableName}_once` },
    timing: TIMING,
    onLine: (line) => onLine(slot, line),
  });
  slot.proc = proc;
  slot.gone = undefined;
  event(`started ${slot.name} (pid ${proc.pid}) at ${proc.url} as ${proc.candidateId}`);
  void proc.waitForExit(24 * 3_600_000).then(
    (exit) => {
      if (slot.proc !== proc) return;
      slot.proc = undefined;
      slot.state = undefined;
      slot.gone = exit.signal === 'SIGKILL' ? 'killed' : exit.signal ? 'stopped' : `exit ${exit.code}`;
    },
    () => undefined,
  );
}

function claim(term: number, candidateId: string, source: string): void {
  const holders = termHolders.get(term) ?? new Set<string>();
  if (!holders.has(candidateId)) {
    holders.add(candidateId);
    termHolders.set(term, holders);
    if (holders.size > 1) {
      overlaps.push(`term ${term} claimed by ${[...holders].join(' and ')} (seen in ${source})`);
      event(`OVERLAP: term ${term} claimed by ${[...holders].join(' and ')}`);
    }
  }
}

/** One sampling round: /leader of every live instance at once. */
async function sample(): Promise<void> {
  const live = slots.filter((slot) => slot.proc);
  const answers = await Promise.all(
    live.map(async (slot) => {
      const proc = slot.proc as DemoProcess;
      try {
        return { slot, proc, state: await proc.leader(400) };
      } catch {
        return undefined;
      }
    }),
  );
  const now = Date.now();
  rounds += 1;
  const leaders: { slot: Slot; state: LeaderJson }[] = [];
  for (const answer of answers) {
    if (!answer || answer.slot.proc !== answer.proc) continue;
    answer.slot.state = answer.state;
    if (answer.state.role === 'leader') {
      leaders.push(answer);
      claim(answer.state.term, answer.state.candidateId, `/leader of ${answer.slot.name}`);
    }
  }
  if (leaders.length > 1) {
    const who = leaders.map(({ slot, state }) => `${slot.name} (term ${state.term})`).join(', ');
    overlaps.push(`${since(now)}: ${who} all said they lead`);
    event(`OVERLAP: ${who} all said they lead`);
  }
  if (leaders.length === 1) {
    const { slot, state } = leaders[0];
    if (currentLeader?.slot !== slot || currentLeader.term !== state.term) {
      currentLeader = { slot, term: state.term, seenAt: now };
      event(`${slot.name} leads (term ${state.term})`);
    }
    for (const waiter of [...leaderWaiters]) {
      if (!waiter.exclude.has(slot)) {
        leaderWaiters.splice(leaderWaiters.indexOf(waiter), 1);
        waiter.resolve(currentLeader);
      }
    }
  } else if (leaders.length === 0 && currentLeader) {
    currentLeader = undefined;
  }
}

async function pollHealth(): Promise<void> {
  await Promise.all(
    slots.map(async (slot) => {
      const proc = slot.proc;
      if (!proc) return;
      try {
        const answer = await proc.health(false, 800);
        slot.health = answer.status === 200 ? 'up' : `down`;
      } catch {
        slot.health = 'no answer';
      }
    }),
  );
}

// ---- scenario ------------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    abort.signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      abort.signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function checkInterrupted(): void {
  if (interrupted) throw new Interrupted();
}

class Interrupted extends Error {}

async function hold(ms: number, then: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    checkInterrupted();
    nextStep = `next: ${then} in ${Math.ceil((until - Date.now()) / 1000)} s`;
    await sleep(Math.min(250, until - Date.now()));
  }
  checkInterrupted();
}

/** Resolves when a sample shows a leader that is not in `exclude`. */
function waitForLeader(exclude: Slot[], timeoutMs: number, what: string) {
  return new Promise<{ slot: Slot; term: number; seenAt: number }>((resolve, reject) => {
    const excluded = new Set(exclude);
    if (currentLeader && !excluded.has(currentLeader.slot)) return resolve(currentLeader);
    const timer = setTimeout(() => {
      leaderWaiters.splice(leaderWaiters.indexOf(waiter), 1);
      reject(new Error(`No ${what} within ${timeoutMs} ms.`));
    }, timeoutMs);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Interrupted());
    };
    const waiter = {
      exclude: excluded,
      resolve: (leader: { slot: Slot; term: number; seenAt: number }) => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', onAbort);
        resolve(leader);
      },
    };
    leaderWaiters.push(waiter);
    abort.signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function scenario(mysqlUrl: string, tableName: string, db: Connection): Promise<void> {
  nextStep = 'starting three instances';
  for (const slot of slots) {
    checkInterrupted();
    await startSlot(slot, mysqlUrl, tableName);
  }
  nextStep = 'waiting for the first leader';
  await waitForLeader([], 30_000, 'leader at start');
  await hold(HOLD_MS, 'SIGKILL the leader (crash)');

  // Crash: the lease must run out on the database clock before anybody else may take it.
  const victim = currentLeader as { slot: Slot; term: number };
  const victimProc = victim.slot.proc as DemoProcess;
  victimProc.kill();
  const killedAt = Date.now();
  event(`SIGKILL ${victim.slot.name} (pid ${victimProc.pid}, leader of term ${victim.term})`);
  nextStep = `waiting for a new leader (the lease runs out within L = ${seconds(TIMING.leaseDurationMs)})`;
  await victimProc.waitForExit();
  const [rows] = await db.query(
    `SELECT expires_at FROM \`${tableName}\` WHERE name = 'default' AND holder = ?`,
    [victimProc.candidateId],
  );
  const oldExpiry = (rows as { expires_at: string }[])[0]?.expires_at;
  const crashed = await waitForLeader(
    [victim.slot],
    TIMING.leaseDurationMs + 15_000,
    'leader after the crash',
  );
  let afterExpiryUs: number | undefined;
  if (oldExpiry) {
    const [taken] = await db.query(
      `SELECT TIMESTAMPDIFF(MICROSECOND, ?, acquired_at) AS us FROM \`${tableName}\` WHERE name = 'default' AND term = ?`,
      [oldExpiry, crashed.term],
    );
    const us = (taken as { us: number | string | null }[])[0]?.us;
    afterExpiryUs = us === undefined || us === null ? undefined : Number(us);
  }
  handovers.push({
    kind: 'crash',
    from: victim.slot.name,
    fromTerm: victim.term,
    to: crashed.slot.name,
    toTerm: crashed.term,
    ms: crashed.seenAt - killedAt,
    afterExpiryUs,
  });
  event(`crash handover: ${crashed.slot.name} leads ${seconds(crashed.seenAt - killedAt)} after the SIGKILL`);
  checkInterrupted();
  await startSlot(victim.slot, mysqlUrl, tableName);
  await hold(HOLD_MS, 'SIGTERM the leader (graceful shutdown)');

  // Graceful: the leader releases the lease on SIGTERM; a follower takes it at its next read.
  const leaving = currentLeader as { slot: Slot; term: number };
  const leavingProc = leaving.slot.proc as DemoProcess;
  leavingProc.signal('SIGTERM');
  const terminatedAt = Date.now();
  event(`SIGTERM ${leaving.slot.name} (pid ${leavingProc.pid}, leader of term ${leaving.term})`);
  nextStep = `waiting for a new leader (followers read every P = ${seconds(TIMING.pollIntervalMs)})`;
  const handed = await waitForLeader([leaving.slot], TIMING.pollIntervalMs + 15_000, 'leader after SIGTERM');
  handovers.push({
    kind: 'graceful',
    from: leaving.slot.name,
    fromTerm: leaving.term,
    to: handed.slot.name,
    toTerm: handed.term,
    ms: handed.seenAt - terminatedAt,
  });
  event(
    `graceful handover: ${handed.slot.name} leads ${seconds(handed.seenAt - terminatedAt)} after the SIGTERM`,
  );
  await leavingProc.waitForExit(15_000);
  checkInterrupted();
  await startSlot(leaving.slot, mysqlUrl, tableName);
  await hold(HOLD_MS / 2, FOREVER ? 'keep running (--forever)' : 'stop all instances');
  if (FOREVER) {
    nextStep = 'running until Ctrl-C (try: kill -9 <pid of the leader>)';
    while (!interrupted) await sleep(1_000);
  }
}

// ---- setup and teardown --------------------------------------------------------------------------------

async function stopAll(): Promise<void> {
  await Promise.all(slots.map((slot) => slot.proc?.stop(10_000)));
}

/** The ledger the instances wrote through runFenced, read after they stopped. */
let ledger: LedgerCheck | undefined;
let ledgerError: string | undefined;

function ledgerLines(): string[] {
  if (!ledger) return [`  ledger:            not checked${ledgerError ? ` (${ledgerError})` : ''}`];
  const terms = ledger.terms.map((term) => {
    const holder = ledger?.holders.get(term) ?? '?';
    return `${term}: ${holder.replace(/:[0-9a-f]{8}$/, '')}`;
  });
  return [
    `  ledger:            ${ledger.rows} rows written through runFenced, under terms ${terms.join(', ') || 'none'}`,
    ledger.problems.length === 0
      ? '                     in commit (id) order terms never decrease; each term written by one instance'
      : `                     FOUND ${ledger.problems.length}:\n${ledger.problems.map((line) => `    ${line}`).join('\n')}`,
  ];
}

/** The period of the demo's run-once job (`ONCE_JOB_MS` in apps/demo/src/demo.jobs.ts). */
const ONCE_JOB_MS = 500;

/** The run-once job, read after the instances stopped: its side-effect rows and the library's runs table. */
interface OnceCheck {
  /** Distinct occurrences the job ran (rows in the side-effect table). */
  readonly occurrences: number;
  /** Occurrences that appear more than once in the side-effect table: must be none. */
  readonly duplicates: string[];
  /** Runs table rows per outcome. */
  readonly outcomes: Map<string, number>;
}
let once: OnceCheck | undefined;
let onceError: string | undefined;

async function checkOnce(db: Connection, tableName: string): Promise<OnceCheck> {
  const [runs] = await db.query(
    `SELECT occurrence, COUNT(*) AS n, GROUP_CONCAT(instance ORDER BY id) AS instances
       FROM \`${tableName}_once\` GROUP BY job, occurrence ORDER BY occurrence`,
  );
  const rows = runs as { occurrence: string; n: number | string; instances: string }[];
  const [outcomeRows] = await db.query(
    `SELECT outcome, COUNT(*) AS n FROM \`${tableName}_runs\` GROUP BY outcome ORDER BY outcome`,
  );
  return {
    occurrences: rows.length,
    duplicates: rows
      .filter((row) => Number(row.n) > 1)
      .map((row) => `${row.occurrence} ran ${row.n} times (${row.instances.replace(/:[0-9a-f]{8}/g, '')})`),
    outcomes: new Map(
      (outcomeRows as { outcome: string; n: number | string }[]).map((row) => [row.outcome, Number(row.n)]),
    ),
  };
}

function onceLines(): string[] {
  if (!once) return [`  run-once:          not checked${onceError ? ` (${onceError})` : ''}`];
  const outcomes = [...once.outcomes.entries()].map(([outcome, n]) => `${n} ${outcome}`).join(', ');
  return [
    `  run-once:          ${once.occurrences} occurrences of the ${ONCE_JOB_MS} ms once-job run, ` +
      `${once.duplicates.length} duplicates, ${once.outcomes.get('missed') ?? 0} missed ` +
      `(runs table: ${outcomes || 'empty'})`,
    ...(once.duplicates.length === 0
      ? []
      : [`                     DUPLICATES:\n${once.duplicates.map((line) => `    ${line}`).join('\n')}`]),
  ];
}

const onceFailed = () => (once?.duplicates.length ?? 0) > 0;

function summary(ok: boolean): string[] {
  const crash = handovers.find((handover) => handover.kind === 'crash');
  const graceful = handovers.find((handover) => handover.kind === 'graceful');
  const terms = [...termHolders.entries()]
    .sort(([a], [b]) => a - b)
    .map(
      ([term, holders]) =>
        `${term}: ${[...holders].map((id) => id.replace(/:[0-9a-f]{8}$/, '')).join(' + ')}`,
    );
  const lines = [
    '',
    `Summary (L=${TIMING.leaseDurationMs} R=${TIMING.renewIntervalMs} P=${TIMING.pollIntervalMs} M=${TIMING.safetyMarginMs} ms)`,
    crash
      ? `  crash handover:    SIGKILL ${crash.from} (term ${crash.fromTerm}) -> ${crash.to} leads (term ${crash.toTerm}) ` +
        `after ${seconds(crash.ms)}  [expected: at most L = ${seconds(TIMING.leaseDurationMs)}, plus sampling]`
      : '  crash handover:    not measured',
    ...(crash?.afterExpiryUs !== undefined
      ? [
          `                     database clock: the new lease was taken ${(crash.afterExpiryUs / 1000).toFixed(1)} ms ` +
            `${crash.afterExpiryUs >= 0 ? 'after' : 'BEFORE'} the old one expired`,
        ]
      : []),
    graceful
      ? `  graceful handover: SIGTERM ${graceful.from} (term ${graceful.fromTerm}) -> ${graceful.to} leads (term ${graceful.toTerm}) ` +
        `after ${seconds(graceful.ms)}  [expected: milliseconds with the default doorbell, seen here at the ` +
        `${SAMPLE_MS} ms sampling step; at most about P = ${seconds(TIMING.pollIntervalMs)} when standbys poll]`
      : '  graceful handover: not measured',
    `  samples:           ${rounds} rounds of GET /leader on every instance, every ${SAMPLE_MS} ms; ${jobRuns} leader-only job runs`,
    `  terms:             ${terms.join(', ') || 'none'}`,
    overlaps.length === 0
      ? '  overlap:           none: never two leaders in one sample, every term held by one instance'
      : `  overlap:           FOUND ${overlaps.length}:\n${overlaps.map((line) => `    ${line}`).join('\n')}`,
    ...ledgerLines(),
    ...onceLines(),
    `  result:            ${
      overlaps.length > 0
        ? 'FAILED: overlap found'
        : ledgerFailed()
          ? 'FAILED: ledger out of term order'
          : onceFailed()
            ? 'FAILED: an occurrence of the once-job ran twice'
            : ok
              ? 'OK, no overlap, ledger in term order, no occurrence run twice'
              : 'incomplete (see above), no overlap'
    }`,
  ];
  return lines;
}

const ledgerFailed = () => (ledger?.problems.length ?? 0) > 0;

async function main(): Promise<number> {
  let throwaway: ThrowawayServer | undefined;
  let db: Connection | undefined;
  const tableName = `le_demo_${randomBytes(3).toString('hex')}`;
  let mysqlUrl = process.env.MYSQL_URL || DEFAULT_DEMO_MYSQL_URL;
  let ok = false;
  const timers: NodeJS.Timeout[] = [];
  try {
    console.log(
      `Timings: L=${TIMING.leaseDurationMs} ms lease, R=${TIMING.renewIntervalMs} ms renew, ` +
        `P=${TIMING.pollIntervalMs} ms poll, M=${TIMING.safetyMarginMs} ms safety margin.`,
    );
    const prepared = await prepareDemoDatabase(mysqlUrl);
    throwaway = prepared.throwaway;
    mysqlUrl = prepared.url;
    for (const note of prepared.notes) console.log(note);
    console.log(`Database: ${describeDatabase(mysqlUrl)}, lease table ${tableName} (dropped at the end).`);
    if (!TTY) console.log('stdout is not a terminal: plain lines, one status line per second.');
    console.log('');
    db = await createConnection({ uri: mysqlUrl, dateStrings: true, supportBigNumbers: true });

    let sampling = false;
    timers.push(
      setInterval(() => {
        if (sampling) return;
        sampling = true;
        void sample().finally(() => (sampling = false));
      }, SAMPLE_MS),
    );
    timers.push(setInterval(() => void pollHealth().then(() => render()), 1_000));

    await scenario(mysqlUrl, tableName, db);
    ok = true;
  } catch (error) {
    if (!(error instanceof Interrupted)) {
      event(`ERROR: ${error instanceof Error ? error.message : String(error)}`);
    }
  } finally {
    nextStep = 'stopping all instances';
    render();
    await stopAll();
    timers.forEach((timer) => clearInterval(timer));
    nextStep = 'all instances stopped';
    render(true);
    if (db) {
      try {
        const [rows] = await db.query(`SELECT id, term, instance FROM \`${tableName}_ledger\` ORDER BY id`);
        ledger = checkLedger(rows as LedgerRow[]);
      } catch (error) {
        ledgerError = error instanceof Error ? error.message : String(error);
      }
      try {
        once = await checkOnce(db, tableName);
      } catch (error) {
        onceError = error instanceof Error ? error.message : String(error);
      }
      await db.query(`DROP TABLE IF EXISTS \`${tableName}_ledger\``).catch(() => undefined);
      await db.query(`DROP TABLE IF EXISTS \`${tableName}_once\``).catch(() => undefined);
      await db.query(`DROP TABLE IF EXISTS \`${tableName}_runs\``).catch(() => undefined);
      await db.query(`DROP TABLE IF EXISTS \`${tableName}\``).catch(() => undefined);
      await db.end().catch(() => undefined);
    }
    await throwaway?.stop();
  }
  for (const line of summary(ok)) console.log(line);
  if (overlaps.length > 0 || ledgerFailed() || onceFailed()) return 1;
  if (interrupted) return FOREVER ? 0 : 130;
  return ok ? 0 : 2;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      // Second Ctrl-C: do not wait for graceful shutdowns any more.
      for (const slot of slots) slot.proc?.kill();
      process.exit(130);
    }
    interrupted = signal;
    event(`${signal}: stopping`);
    abort.abort();
  });
}
// Last resort: never leave an instance behind, whatever happened.
process.on('exit', () => {
  for (const slot of slots) slot.proc?.kill();
});

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
