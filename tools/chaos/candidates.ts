import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { faketimeEnv } from '../faketime';
import { clockOffset, type Life, type LifeEvent } from './checkers';

export const ROOT = join(__dirname, '..', '..');

const origin = process.hrtime.bigint();
/** Harness time: monotonic ms since the harness started. */
export const now = (): number => Number(process.hrtime.bigint() - origin) / 1e6;

interface Line {
  readonly type: string;
  readonly mono: number;
  readonly term?: number;
  readonly validUntil?: number;
  readonly candidateId?: string;
  readonly node?: number;
}

/** Every candidate process not yet known to have exited: SIGKILLed on any exit of the harness. */
const running = new Set<CandidateProcess>();

/** SIGCONT + SIGKILL to every candidate still running (synchronous: safe in an `exit` handler). */
export function killAllCandidates(): void {
  for (const candidate of running) {
    candidate.send('SIGCONT');
    candidate.send('SIGKILL');
  }
}

/** One OS process of one candidate slot (tools/chaos/candidate.ts), from spawn to exit. */
export class CandidateProcess {
  readonly startedAt = now();
  exitedAt: number | null = null;
  candidateId: string | null = null;
  /** Live view from its lines: the term it announced leading, until it announced the end. */
  leadingTerm: number | null = null;
  /** Galera mode: the node (0-based) its lease traffic goes to, from its last `node` line. */
  leaseNode: number | null = null;
  readonly pauses: { from: number; to: number | null }[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly lines: { line: Line; received: number }[] = [];
  private stdoutBuffer = '';
  private stderr = '';

  constructor(
    readonly id: string,
    readonly slot: number,
    env: Record<string, string>,
    readonly skew: string | null,
  ) {
    this.child = spawn(
      process.execPath,
      ['-r', join(ROOT, 'tools/register-ts.js'), join(ROOT, 'tools/chaos/candidate.ts')],
      {
        cwd: ROOT,
        env: { ...process.env, ...env, ...(skew ? faketimeEnv(skew) : {}) },
        // Own process group: a Ctrl-C in the terminal reaches the harness only, which stops the candidates.
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', () => {
        this.exitedAt = now();
        const pause = this.pauses.at(-1);
        if (pause && pause.to === null) pause.to = this.exitedAt;
        running.delete(this);
        resolve();
      }),
    );
    this.child.stdin?.on('error', () => undefined);
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-10_000);
    });
  }

  /** The OS process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitedAt === null;
  }

  get paused(): boolean {
    const pause = this.pauses.at(-1);
    return pause !== undefined && pause.to === null;
  }

  /** The last lines of its stderr, for error reports. */
  get errors(): string {
    return this.stderr;
  }

  send(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  stop(): void {
    if (this.paused) return;
    this.send('SIGSTOP');
    this.pauses.push({ from: now(), to: null });
  }

  resume(): void {
    this.send('SIGCONT');
    const pause = this.pauses.at(-1);
    if (pause && pause.to === null) pause.to = now();
  }

  /** `signal`, then waits for the exit; SIGKILL after `graceMs`. */
  async end(signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.resume();
    this.send(signal);
    const timer = setTimeout(() => this.send('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Its history, with its monotonic stamps converted to harness time. */
  toLife(): Life {
    const offset = clockOffset(this.lines.map(({ line, received }) => ({ stamped: line.mono, received })));
    const events: LifeEvent[] = [];
    const ready = this.lines.find(({ line }) => line.type === 'ready');
    for (const { line } of this.lines) {
      if (line.type !== 'elected' && line.type !== 'revoked' && line.type !== 'lease') continue;
      events.push({
        type: line.type,
        term: Number(line.term),
        t: line.mono + offset,
        ...(line.type === 'lease' ? { validUntil: Number(line.validUntil) + offset } : {}),
      });
    }
    return {
      id: this.id,
      slot: this.slot,
      candidateId: this.candidateId,
      startedAt: this.startedAt,
      readyAt: ready ? ready.line.mono + offset : null,
      exitedAt: this.exitedAt,
      skew: this.skew,
      pauses: this.pauses.map((pause) => ({ ...pause })),
      events,
      ...(this.leaseNode === null
        ? {}
        : {
            leaseNodes: this.lines
              .filter(({ line }) => line.type === 'node')
              .map(({ line }) => ({ t: line.mono + offset, node: Number(line.node) })),
          }),
    };
  }

  private onStdout(chunk: string): void {
    const received = now();
    this.stdoutBuffer += chunk;
    let newline: number;
    while ((newline = this.stdoutBuffer.indexOf('\n')) >= 0) {
      const text = this.stdoutBuffer.slice(0, newline);
      this.stdoutBuffer = this.stdoutBuffer.slice(newline + 1);
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // not one of ours
      }
      if (typeof line.mono !== 'number') continue;
      this.lines.push({ line, received });
      if (line.type === 'ready') this.candidateId = line.candidateId ?? null;
      if (line.type === 'node') this.leaseNode = line.node ?? null;
      if (line.type === 'elected') this.leadingTerm = line.term ?? null;
      if (line.type === 'revoked' && line.term === this.leadingTerm) this.leadingTerm = null;
    }
  }
}
