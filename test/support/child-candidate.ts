import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { faketimeEnv } from '../../tools/faketime';
import { waitUntil } from './candidates';

/** One JSON line printed by candidate-child.ts. */
export interface ChildLine {
  readonly type: string;
  readonly election?: string;
  readonly term?: number;
  readonly role?: string;
  readonly candidateId?: string;
  readonly wall: number;
  /** This process's monotonic-ish receive time (Date.now() of the test process). */
  readonly receivedAt: number;
}

/** A candidate running in its own OS process. */
export interface ChildCandidate {
  readonly process: ChildProcess;
  readonly lines: ChildLine[];
  readonly output: () => string;
  readonly candidateId: () => string | undefined;
  /** True between an `elected` line and the next `revoked` line. */
  readonly leads: () => boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const root = join(__dirname, '..', '..');

export { faketimeEnv };

/**
 * Spawns test/support/candidate-child.ts with `env`; `faketime` (e.g. '+1h') preloads libfaketime so that
 * its wall clock is shifted. (Preloaded rather than through the `faketime` command, which forks: a signal
 * sent to it would not reach node.)
 */
export async function spawnChildCandidate(
  env: Record<string, string>,
  options: { faketime?: string } = {},
): Promise<ChildCandidate> {
  const nodeArgs = ['-r', join(root, 'tools/register-ts.js'), join(root, 'test/support/candidate-child.ts')];
  const clock = options.faketime ? faketimeEnv(options.faketime) : {};
  const child = spawn(process.execPath, nodeArgs, {
    cwd: root,
    env: { ...process.env, ...env, ...clock },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: ChildLine[] = [];
  let raw = '';
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        lines.push({ ...(JSON.parse(line) as ChildLine), receivedAt: Date.now() });
      } catch {
        // not one of ours (a log line): kept in raw output only
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: ChildCandidate = {
    process: child,
    lines,
    output: () => raw,
    candidateId: () => lines.find((l) => l.type === 'ready')?.candidateId,
    leads: () => {
      const transitions = lines.filter((l) => l.type === 'elected' || l.type === 'revoked');
      return transitions.at(-1)?.type === 'elected';
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
  await waitUntil(
    () => lines.some((l) => l.type === 'ready') || child.exitCode !== null,
    30_000,
    'the child candidate to start',
  );
  if (child.exitCode !== null) throw new Error(`child candidate exited at start:\n${raw}`);
  return handle;
}
