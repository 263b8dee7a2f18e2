// A light benchmark candidate: the library's elector and MySQL lease store without Nest, built from the
// options exactly as the module's providers build them (libs/leader-election/src/leader-election.providers.ts).
// The scale runs start 100 of these at once; its CPU and RSS are what the module adds to an app, without
// the Nest layer (which does nothing per tick). Run by bench/lib/child.ts like bench/candidate.ts.
//
// Env: MYSQL_URL, TABLE, CANDIDATE_ID (prefix), LEASE_MS, RENEW_MS, POLL_MS, MARGIN_MS,
//      ELECTIONS (how many: 1 = the election "default", n > 1 = "e0".."e<n-1>"),
//      STANDBY_MODE (optional: the option `standbyMode` only when set),
//      DEFER_START=1 (load everything, print {"type":"loaded"}, and start campaigning only at the command
//      `start`: cold starts of many processes measured from the elector's start, not from process load).
// Prints {"type":"started"} just before the elector starts campaigning (the module's bootstrap), one JSON
// line per election event ({"type":"elected",...}), then {"type":"ready"}.
// Commands on stdin, one per line: `heap` (heap and RSS after two full GCs, {"type":"heap"}), `cpu` (CPU
// time used so far and RSS, {"type":"cpu"}). SIGTERM stops the elector (releasing held leases) and exits;
// the process exits at once when stdin ends.
import { generateCandidateId, LeaderElector } from '../libs/leader-election/src/elector/leader-elector';
import type { ElectorLogger } from '../libs/leader-election/src/elector/election-state';
import { leasePoolSize } from '../libs/leader-election/src/leader-election.constants';
import {
  resolveLeaderElectionOptions,
  type LeaderElectionModuleOptions,
} from '../libs/leader-election/src/leader-election.options';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';
import { readCommands } from './lib/commands';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`bench light candidate: ${name} is required`);
  return value;
};

const now = (): number => performance.timeOrigin + performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: now() })}\n`);
};

const electionCount = Number(env('ELECTIONS', '1'));
const standbyMode = process.env.STANDBY_MODE;
const options = resolveLeaderElectionOptions({
  connection: env('MYSQL_URL'),
  tableName: env('TABLE'),
  candidateId: env('CANDIDATE_ID', 'bench'),
  leaseDurationMs: Number(env('LEASE_MS', '10000')),
  renewIntervalMs: Number(env('RENEW_MS', '2000')),
  pollIntervalMs: Number(env('POLL_MS', '2000')),
  safetyMarginMs: Number(env('MARGIN_MS', '1000')),
  ...(electionCount > 1 ? { elections: Array.from({ length: electionCount }, (_, i) => `e${i}`) } : {}),
  ...(standbyMode ? { standbyMode: standbyMode as LeaderElectionModuleOptions['standbyMode'] } : {}),
});

/** Warnings and errors go to stderr (the bench keeps the last of it for error messages). */
const logger: ElectorLogger = {
  log: () => undefined,
  warn: (message) => process.stderr.write(`warn: ${message}\n`),
  error: (message) => process.stderr.write(`error: ${message}\n`),
};

const store = new MysqlLeaseStore({
  connection: options.connection,
  tableName: options.tableName,
  operationTimeoutMs: options.operationTimeoutMs,
  poolSize: leasePoolSize(options.standbyMode, options.maxDoorbells),
});
const elector = new LeaderElector({
  store,
  elections: options.elections,
  candidateId: generateCandidateId(options.candidateIdPrefix),
  timing: options,
  createTable: options.createTable,
  logger,
  standbyMode: options.standbyMode,
  maxDoorbells: options.maxDoorbells,
});

async function reportHeap(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  const memory = process.memoryUsage();
  print({
    type: 'heap',
    gc: gc !== undefined,
    heapUsed: memory.heapUsed,
    rss: memory.rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  });
}

function reportCpu(): void {
  const { user, system } = process.cpuUsage();
  print({ type: 'cpu', cpuMs: (user + system) / 1000, rss: process.memoryUsage().rss });
}

function listen(): void {
  readCommands((command) => {
    if (command === 'heap') void reportHeap();
    if (command === 'cpu') reportCpu();
    if (command === 'start') start();
  });
}

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  elector.beginShutdown();
  elector.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

listen();
elector.onEvent((event) =>
  print({
    type: event.type,
    election: event.election,
    term: event.term,
    role: event.state.role,
    leaderId: event.state.leaderId,
    ...(event.reason ? { reason: event.reason } : {}),
  }),
);
let started = false;
function start(): void {
  if (started) return;
  started = true;
  print({ type: 'started', pid: process.pid });
  elector.start();
  print({ type: 'ready', candidateId: elector.candidateId, pid: process.pid });
}
// As the module's onModuleInit does: the connection opens and the table is checked before bootstrap.
elector.warmUp();
if (process.env.DEFER_START === '1') print({ type: 'loaded', pid: process.pid });
else start();
