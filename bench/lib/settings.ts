import { join } from 'node:path';
import { ROOT } from './child';

/** L, R, P, M in milliseconds. */
export interface Timing {
  readonly leaseMs: number;
  readonly renewMs: number;
  readonly pollMs: number;
  readonly marginMs: number;
}

/** A standby mode the bench runs: `env` is passed as STANDBY_MODE, or nothing for the library default. */
export interface Mode {
  readonly label: string;
  readonly env: string | undefined;
}

export const SCENARIOS = [
  'micro',
  'failover',
  'handover',
  'idle',
  'cost',
  'connections',
  'multi',
  'once',
  'balanced',
  'scale',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Settings {
  readonly quick: boolean;
  readonly timing: Timing;
  /** SIGKILL rounds and SIGTERM rounds, each. */
  readonly rounds: number;
  /** Candidates of the large steady-state run (20; 8 in --quick). */
  readonly bigCluster: number;
  /** Steady-state window of the statement counts. */
  readonly costWindowMs: number;
  /** Window over which the connections of a standby are sampled. */
  readonly connectionsWindowMs: number;
  /** The 100-election process alone, before a second one joins. */
  readonly aloneWindowMs: number;
  /** Heap growth window with 100 elections (2 minutes; 30 s in --quick). */
  readonly heapWindowMs: number;
  readonly multiElections: number;
  readonly modes: readonly Mode[];
  /** Modes in which the 100-election run is made (all; only the first in --quick). */
  readonly multiModes: readonly Mode[];
  readonly scenarios: ReadonlySet<Scenario>;
  /** Scale runs: elections of the one-process run (1,000). */
  readonly scaleElections: number;
  /** Scale runs: its CPU, statement and heap window (5 minutes; 30 s in --quick). */
  readonly scaleHeapWindowMs: number;
  /** Scale runs: candidate processes on one election (100). */
  readonly scaleCandidates: number;
  /** Scale runs: the window of the many-process runs (60 s; 20 s in --quick). */
  readonly scaleWindowMs: number;
  /** Scale runs: instances started at once in the cold-start rounds (10). */
  readonly scaleColdInstances: number;
  /** Scale runs: the 100 candidates' window after the 1,000-election run, not during it (unless --scale-together). */
  readonly scaleSerial: boolean;
  readonly outDir: string;
  /** Exit 1 when any target fails (not only on overlaps or errors). */
  readonly strict: boolean;
  readonly notes: string[];
}

export const USAGE = `Usage: npm run bench [-- options]
  --quick                 short settings (L=2000,R=400,P=400,M=400; 5 rounds; 8 candidates; 30 s heap run)
  --modes=poll,doorbell   standby modes to compare (default: poll and doorbell; "default" runs the
                          library's default without setting standbyMode)
  --rounds=N              SIGKILL and SIGTERM rounds each (default 10, quick 5)
  --lease=MS --renew=MS --poll=MS --margin=MS    L, R, P, M
  --big=N                 candidates of the large steady-state run (default 20, quick 8)
  --window=S              steady-state window in seconds (default 60, quick 6)
  --heap-seconds=S        100-election heap run (default 120, quick 30)
  --only=a,b              scenarios: ${SCENARIOS.join(', ')} (default: all; with --quick all but scale)
  --scale                 the scale runs (1,000 elections in one process, 100 processes on one election,
                          10 processes in 100 elections, cold starts; ~11 min, quick ~4 min): alone, or
                          added to the --only= scenarios. Alone (or --only=scale) it updates only the Scale
                          section of the results and keeps the rest of latest.md and latest.json
  --scale-heap-seconds=S  window of the 1,000-election run (default 300, quick 30)
  --scale-window=S        window of the 100- and 10-process runs (default 60, quick 20)
  --scale-candidates=N    processes on one election (default 100)
  --scale-together        the 100 candidates' window during the 1,000-election run's window instead of
                          after it (~9 min instead of ~11; their CPU then measures the two runs' contention)
  --out=DIR               results directory (default bench/results)
  --strict                exit 1 when any target fails`;

export function parseSettings(argv: readonly string[]): Settings {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument "${arg}"\n${USAGE}`);
    flags.set(match[1], match[2] ?? 'true');
  }
  const known = ['quick', 'modes', 'rounds', 'lease', 'renew', 'poll', 'margin', 'big', 'window'];
  known.push('heap-seconds', 'only', 'out', 'strict', 'help');
  known.push('scale', 'scale-heap-seconds', 'scale-window', 'scale-candidates', 'scale-together');
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new Error(`unknown option --${name}\n${USAGE}`);
  }
  if (flags.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const num = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
    return value;
  };
  const timing: Timing = {
    leaseMs: num('lease', quick ? 2000 : 10_000),
    renewMs: num('renew', quick ? 400 : 2000),
    pollMs: num('poll', quick ? 400 : 2000),
    marginMs: num('margin', quick ? 400 : 1000),
  };
  const notes: string[] = [];
  const modes = parseModes(flags.get('modes'));
  const only = flags.get('only');
  // The scale runs take minutes: a --quick run leaves them out unless asked for.
  const defaults = quick ? SCENARIOS.filter((name) => name !== 'scale') : SCENARIOS;
  const scenarios = new Set<Scenario>(
    only ? (only.split(',').map((name) => name.trim()) as Scenario[]) : flags.has('scale') ? [] : defaults,
  );
  if (flags.has('scale')) scenarios.add('scale');
  for (const name of scenarios) {
    if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario "${name}"`);
  }
  const multiModes = quick ? modes.slice(0, 1) : modes;
  if (quick && modes.length > 1 && scenarios.has('multi')) {
    notes.push(`--quick: the 100-election and heap run uses only the first mode (${modes[0].label}).`);
  }
  return {
    quick,
    timing,
    rounds: Math.max(1, Math.round(num('rounds', quick ? 5 : 10))),
    bigCluster: Math.round(num('big', quick ? 8 : 20)),
    costWindowMs: num('window', quick ? 6 : 60) * 1000,
    connectionsWindowMs: quick ? 3000 : 20_000,
    aloneWindowMs: quick ? 6000 : 30_000,
    heapWindowMs: num('heap-seconds', quick ? 30 : 120) * 1000,
    multiElections: 100,
    modes,
    multiModes,
    scenarios,
    scaleElections: 1000,
    scaleHeapWindowMs: num('scale-heap-seconds', quick ? 30 : 300) * 1000,
    scaleCandidates: Math.round(num('scale-candidates', 100)),
    scaleWindowMs: num('scale-window', quick ? 20 : 60) * 1000,
    scaleColdInstances: 10,
    scaleSerial: !flags.has('scale-together'),
    outDir: flags.get('out') ?? join(ROOT, 'bench', 'results'),
    strict: flags.has('strict'),
    notes,
  };
}

function parseModes(raw: string | undefined): Mode[] {
  if (raw === undefined) {
    return [
      { label: 'poll', env: 'poll' },
      { label: 'doorbell', env: 'doorbell' },
    ];
  }
  const modes: Mode[] = [];
  for (const name of raw.split(',').map((part) => part.trim())) {
    if (!['poll', 'doorbell', 'auto', 'default'].includes(name)) {
      throw new Error(`--modes: unknown mode "${name}" (poll, doorbell, auto, default)`);
    }
    modes.push(name === 'default' ? { label: 'default', env: undefined } : { label: name, env: name });
  }
  if (modes.length === 0) throw new Error('--modes: name at least one mode');
  return modes;
}
