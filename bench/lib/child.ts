import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { now, waitUntil } from './util';

export const ROOT = join(__dirname, '..', '..');
const REGISTER_TS = join(ROOT, 'tools', 'register-ts.js');

/** One JSON line printed by bench/candidate.ts or bench/micro.ts, stamped with the child's clock. */
export interface ChildLine {
  readonly type: string;
  /** The child's wall clock in ms (sub-millisecond), comparable with `now()` here. */
  readonly t: number;
  readonly election?: string;
  readonly term?: number;
  readonly role?: string;
  readonly leaderId?: string | null;
  readonly candidateId?: string;
  readonly [key: string]: unknown;
}

/** Where bench/lib/build.ts put the compiled children; unset: run the TypeScript through register-ts.js. */
let compiledDir: string | undefined;

export function useCompiledChildren(dir: string | undefined): void {
  compiledDir = dir;
}

/** Every child not yet known to have exited: killed on any exit of the bench. */
const running = new Set<BenchChild>();

/** SIGKILLs every child still running (synchronous: safe in an `exit` handler). */
export function killAllChildren(): void {
  for (const child of running) child.forceKill();
}

/** A TypeScript child process of the bench, run from source through tools/register-ts.js. */
export class BenchChild {
  readonly lines: ChildLine[] = [];
  readonly process: ChildProcess;
  readonly spawnedAt = now();
  readonly exited: Promise<void>;
  exitedAt: number | undefined;
  /** The last signal the bench sent, and when. */
  signalSent: { readonly signal: NodeJS.Signals; readonly t: number } | undefined;
  private stderr = '';
  private stdoutBuffer = '';

  constructor(
    readonly label: string,
    /** The MySQL user this child connects as (one per child: per-candidate statement counts). */
    readonly user: string,
    /** `candidate` or `micro`: bench/<script>.ts. */
    script: string,
    env: Record<string, string>,
  ) {
    const entry = compiledDir
      ? [join(compiledDir, 'bench', `${script}.js`)]
      : ['-r', REGISTER_TS, join(ROOT, 'bench', `${script}.ts`)];
    this.process = spawn(process.execPath, ['--expose-gc', ...entry], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.add(this);
    this.exited = new Promise((resolve) =>
      this.process.once('exit', () => {
        this.exitedAt = now();
        running.delete(this);
        resolve();
      }),
    );
    this.process.stdin?.on('error', () => undefined); // EPIPE after the child died
    this.process.stdout?.setEncoding('utf8');
    this.process.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.process.stderr?.setEncoding('utf8');
    this.process.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get candidateId(): string | undefined {
    return this.lines.find((line) => line.type === 'ready')?.candidateId;
  }

  get readyAt(): number | undefined {
    return this.lines.find((line) => line.type === 'ready')?.t;
  }

  /** False from the moment the bench sent SIGKILL or the process exited. */
  get alive(): boolean {
    return this.exitedAt === undefined && this.signalSent?.signal !== 'SIGKILL';
  }

  /** When this process stopped being able to act: SIGKILL sent, or its exit observed. */
  get endedAt(): number | undefined {
    if (this.signalSent?.signal === 'SIGKILL') return this.signalSent.t;
    return this.exitedAt;
  }

  /** Recent stderr output, for error messages. */
  get errorOutput(): string {
    return this.stderr;
  }

  /** True when the last elected/revoked line of `election` is `elected` and the process can act. */
  leads(election = 'default'): boolean {
    if (!this.alive) return false;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i];
      if (line.election !== election) continue;
      if (line.type === 'elected') return true;
      if (line.type === 'revoked') return false;
    }
    return false;
  }

  /** How many elections this process leads now. */
  leadCount(): number {
    if (!this.alive) return 0;
    const state = new Map<string, boolean>();
    for (const line of this.lines) {
      if (line.election === undefined) continue;
      if (line.type === 'elected') state.set(line.election, true);
      if (line.type === 'revoked') state.set(line.election, false);
    }
    return [...state.values()].filter(Boolean).length;
  }

  /** Time of the latest `elected` line of `election`, if any. */
  lastElectedAt(election = 'default'): number | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i];
      if (line.election === election && line.type === 'elected') return line.t;
    }
    return undefined;
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      () => this.candidateId !== undefined || this.exitedAt !== undefined,
      timeoutMs,
      `${this.label} to start`,
      10,
    );
    if (this.candidateId === undefined) {
      throw new Error(`${this.label} exited at start:\n${this.stderr}`);
    }
  }

  /** Sends a command line and waits for the next line of type `replyType`. */
  async request(command: string, replyType: string, timeoutMs = 15_000): Promise<ChildLine> {
    const from = this.lines.length;
    this.process.stdin?.write(`${command}\n`);
    return waitUntil(
      () => {
        if (this.exitedAt !== undefined) throw new Error(`${this.label} exited while asked "${command}"`);
        return this.lines.slice(from).find((line) => line.type === replyType);
      },
      timeoutMs,
      `${this.label} to answer "${command}"`,
      10,
    );
  }

  /** Sends `signal` and records when. */
  signal(signal: NodeJS.Signals): number {
    const t = now();
    if (this.exitedAt === undefined) {
      this.signalSent = { signal, t };
      this.process.kill(signal);
    }
    return t;
  }

  /** SIGKILL, without waiting. */
  forceKill(): void {
    if (this.exitedAt === undefined && this.process.exitCode === null && this.process.signalCode === null) {
      this.signalSent ??= { signal: 'SIGKILL', t: now() };
      this.process.kill('SIGKILL');
    }
  }

  /** Waits for the exit, SIGKILLing after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.forceKill();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    await this.exited;
  }

  private onStdout(chunk: string): void {
    this.stdoutBuffer += chunk;
    let newline: number;
    while ((newline = this.stdoutBuffer.indexOf('\n')) >= 0) {
      const text = this.stdoutBuffer.slice(0, newline);
      this.stdoutBuffer = this.stdoutBuffer.slice(newline + 1);
      try {
        const parsed = JSON.parse(text) as ChildLine;
        if (parsed && typeof parsed.type === 'string') this.lines.push(parsed);
      } catch {
        this.stderr = (this.stderr + text + '\n').slice(-20_000); // a stray log line
      }
    }
  }
}
