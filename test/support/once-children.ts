import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitUntil } from './candidates';
import { faketimeEnv } from './child-candidate';

/** One JSON line printed by once-child.ts, with the test process's receive time. */
export interface OnceChildLine {
  readonly type: string;
  readonly term?: number;
  readonly job?: string;
  readonly occurrence?: number;
  readonly candidateId?: string;
  readonly receivedAt: number;
}

/** A process running test/support/once-child.ts. */
export interface OnceChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: OnceChildLine[];
  readonly output: () => string;
  /** Alive and not stopped (SIGSTOP). */
  readonly running: () => boolean;
  /** Its latest transition was `elected`. */
  readonly leads: () => boolean;
  /** Sends `signal`; resolves once the process exited (SIGKILL, SIGTERM). */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  stop(): void;
  resume(): void;
}

const root = join(__dirname, '..', '..');

/** Spawns once-child.ts with `env` (and libfaketime's `faketime` offset, e.g. '-1h'); resolves when ready. */
export async function spawnOnceChild(
  name: string,
  env: Record<string, string>,
  options: { faketime?: string } = {},
): Promise<OnceChild> {
  const child = spawn(
    process.execPath,
    ['-r', join(root, 'tools/register-ts.js'), join(root, 'test/support/once-child.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        ...env,
        CANDIDATE_ID: name,
        ...(options.faketime ? faketimeEnv(options.faketime) : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: OnceChildLine[] = [];
  let raw = '';
  let buffer = '';
  let stopped = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        lines.push({ ...(JSON.parse(line) as OnceChildLine), receivedAt: Date.now() });
      } catch {
        // a log line: kept in the raw output only
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const handle: OnceChild = {
    name,
    process: child,
    lines,
    output: () => raw,
    running: () => alive() && !stopped,
    leads: () => lines.filter((l) => l.type === 'elected' || l.type === 'revoked').at(-1)?.type === 'elected',
    async kill(signal) {
      if (!alive()) return;
      if (stopped) handle.resume();
      child.kill(signal);
      await exited;
    },
    stop() {
      stopped = true;
      child.kill('SIGSTOP');
    },
    resume() {
      stopped = false;
      if (alive()) child.kill('SIGCONT');
    },
  };
  await waitUntil(() => lines.some((l) => l.type === 'ready') || !alive(), 60_000, `${name} to start`);
  if (!alive()) throw new Error(`${name} exited at start:\n${raw}`);
  return handle;
}
