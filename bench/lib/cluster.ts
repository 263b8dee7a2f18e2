import { BenchChild, type ChildLine } from './child';
import type { BenchServer } from './db';
import type { Mode, Timing } from './settings';
import { now, waitUntil } from './util';

/** A signal the bench sent to a candidate, for the timeline. */
export interface Mark {
  readonly t: number;
  readonly kind: 'kill' | 'term';
  readonly child: BenchChild;
}

export interface ClusterOptions {
  readonly server: BenchServer;
  /** Names the cluster in labels, the timeline and the overlap report. */
  readonly name: string;
  readonly table: string;
  /** 1: the election "default"; n > 1: "e0".."e<n-1>". */
  readonly elections: number;
  readonly timing: Timing;
  readonly mode: Mode;
  /** Extra environment of every candidate. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The child script: `candidate` (a Nest application context with the module, the default) or
   * `light-candidate` (the elector and lease store without Nest, for runs of many processes).
   */
  readonly script?: 'candidate' | 'light-candidate';
}

/** Candidate processes taking part in the same elections on one lease table. */
export class Cluster {
  readonly members: BenchChild[] = [];
  readonly marks: Mark[] = [];
  readonly startedAt = now();
  endedAt: number | undefined;

  constructor(readonly options: ClusterOptions) {}

  get electionNames(): string[] {
    const { elections } = this.options;
    return elections === 1 ? ['default'] : Array.from({ length: elections }, (_, i) => `e${i}`);
  }

  /** Members that have not been SIGKILLed or exited. */
  get live(): BenchChild[] {
    return this.members.filter((child) => child.alive);
  }

  /** Live members that have not been asked to stop. */
  get active(): BenchChild[] {
    return this.live.filter((child) => child.signalSent === undefined);
  }

  /** Starts one more candidate with its own MySQL user; does not wait for it to be ready. */
  async spawn(): Promise<BenchChild> {
    return this.spawnAs(await this.options.server.createUser());
  }

  /**
   * Starts `count` candidates back to back (their MySQL users are created first, so that no statement of
   * the bench runs between two spawns); does not wait for them to be ready.
   */
  async spawnMany(count: number): Promise<BenchChild[]> {
    const users: { user: string; url: string }[] = [];
    for (let i = 0; i < count; i++) users.push(await this.options.server.createUser());
    return users.map((user) => this.spawnAs(user));
  }

  private spawnAs({ user, url }: { user: string; url: string }): BenchChild {
    const { name, table, elections, timing, mode } = this.options;
    const label = `${name}-${this.members.length + 1}`;
    const child = new BenchChild(label, user, this.options.script ?? 'candidate', {
      MYSQL_URL: url,
      TABLE: table,
      CANDIDATE_ID: label,
      LEASE_MS: String(timing.leaseMs),
      RENEW_MS: String(timing.renewMs),
      POLL_MS: String(timing.pollMs),
      MARGIN_MS: String(timing.marginMs),
      ELECTIONS: String(elections),
      ...(mode.env ? { STANDBY_MODE: mode.env } : {}),
      ...this.options.env,
    });
    this.members.push(child);
    return child;
  }

  /** Starts `count` candidates at once and waits until each has bootstrapped. */
  async spawnReady(count: number): Promise<BenchChild[]> {
    const children: BenchChild[] = [];
    for (let i = 0; i < count; i++) children.push(await this.spawn());
    await Promise.all(children.map((child) => child.waitReady()));
    return children;
  }

  /** Live members leading `election` now. */
  leaders(election = 'default'): BenchChild[] {
    return this.live.filter((child) => child.leads(election));
  }

  /** Waits until exactly one live member leads `election`. */
  waitSingleLeader(election = 'default', timeoutMs?: number): Promise<BenchChild> {
    const { leaseMs, pollMs } = this.options.timing;
    return waitUntil(
      () => {
        const leaders = this.leaders(election);
        return leaders.length === 1 ? leaders[0] : undefined;
      },
      timeoutMs ?? 3 * leaseMs + pollMs + 10_000,
      `one leader of "${election}" in ${this.options.name}`,
    );
  }

  /** The first `elected` line of `election` with a term above `aboveTerm`, from any member. */
  electedAbove(election: string, aboveTerm: number): { child: BenchChild; line: ChildLine } | undefined {
    for (const child of this.members) {
      const line = child.lines.find(
        (l) => l.type === 'elected' && l.election === election && (l.term ?? 0) > aboveTerm,
      );
      if (line) return { child, line };
    }
    return undefined;
  }

  /** Sends a signal to a member and marks it on the timeline. */
  signal(child: BenchChild, signal: 'SIGKILL' | 'SIGTERM'): number {
    const t = child.signal(signal);
    this.marks.push({ t, kind: signal === 'SIGKILL' ? 'kill' : 'term', child });
    return t;
  }

  /** Asks each member for its heap and RSS (after GC). */
  async heaps(
    children = this.live,
    timeoutMs = 15_000,
  ): Promise<Map<BenchChild, { heapUsed: number; maxRss: number }>> {
    const result = new Map<BenchChild, { heapUsed: number; maxRss: number }>();
    for (const child of children) {
      const line = await child.request('heap', 'heap', timeoutMs);
      result.set(child, { heapUsed: Number(line.heapUsed), maxRss: Number(line.maxRss) });
    }
    return result;
  }

  /** Kills every member (the bench is done with them) and waits for their exits. */
  async stop(): Promise<void> {
    for (const child of this.members) child.forceKill();
    await Promise.all(this.members.map((child) => child.waitExit(5000)));
    this.endedAt ??= now();
  }
}
