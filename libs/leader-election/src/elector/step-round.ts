import type { LeaseRow } from '../store/lease-store';
import type { Clock, TimerHandle } from './clock';

/**
 * What one election does in a round: renew the term it holds (the job, with the election's name, is
 * itself the lease the round's statement renews), or read its row.
 */
export type RoundJob =
  { readonly kind: 'renew'; readonly name: string; readonly term: number } | { readonly kind: 'read' };

/** One election's part in the rounds (implemented by its `StepLoop`). */
export interface RoundMember {
  readonly name: string;
  /**
   * The round it was planned in fell due: the job it joins with (its step is then in flight until
   * `settle`; `done` resolves once the round's answers were all handed out), or `undefined` when it runs
   * a step of its own instead (or none: stopped, or busy).
   */
  roundDue(done: Promise<void>): RoundJob | undefined;
  /** The round's statement answered (`outcome`) or failed (`error`); `tSend` is when it was sent. */
  settle(outcome: RoundOutcome): void;
}

export type RoundOutcome =
  | { readonly kind: 'renewed'; readonly renewed: boolean; readonly tSend: number }
  | { readonly kind: 'read'; readonly row: LeaseRow | undefined }
  /** Some lease of the batch was not renewed: each election finds out with a step of its own. */
  | { readonly kind: 'retry' }
  | { readonly kind: 'failed'; readonly error: unknown };

/** The statements a round sends: the batching store's, for all elections of the process at once. */
export interface RoundStore {
  renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number>;
  readMany(names: readonly string[]): Promise<Map<string, LeaseRow>>;
}

/**
 * The regular steps (renewals every R, reads every P) of all elections of one process that fall due on
 * the same grid point, run as one: one timer, one renewal statement and one read for all of them, and
 * the answers handed to each election without a timer, a promise or a statement of its own. A process
 * in 1,000 elections then costs about what one election costs, plus a loop over the answers.
 */
export class StepRound {
  private readonly due = new Map<number, { members: Set<RoundMember>; timer: TimerHandle }>();

  constructor(
    private readonly clock: Clock,
    private readonly store: RoundStore,
    private readonly holder: string,
    private readonly leaseMs: number,
  ) {}

  /** Plans `member` into the round of monotonic time `at` (a grid point). */
  add(member: RoundMember, at: number): void {
    let round = this.due.get(at);
    if (!round) {
      const members = new Set<RoundMember>();
      round = {
        members,
        timer: this.clock.setTimeout(() => this.fire(at), Math.max(0, at - this.clock.now())),
      };
      this.due.set(at, round);
    }
    round.members.add(member);
  }

  /** Takes `member` out of the round of `at`. */
  remove(member: RoundMember, at: number): void {
    const round = this.due.get(at);
    if (!round) return;
    round.members.delete(member);
    if (round.members.size > 0) return;
    this.clock.clearTimeout(round.timer);
    this.due.delete(at);
  }

  /** Rounds planned (for tests). */
  get planned(): number {
    return this.due.size;
  }

  private fire(at: number): void {
    const round = this.due.get(at);
    this.due.delete(at);
    if (!round) return;
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    // The renewing members, and beside them their jobs: the leases the statement renews, as they are.
    const renewals: RoundMember[] = [];
    const leases: { readonly name: string; readonly term: number }[] = [];
    const reads: RoundMember[] = [];
    for (const member of round.members) {
      const job = member.roundDue(done);
      if (job?.kind === 'renew') {
        renewals.push(member);
        leases.push(job);
      } else if (job?.kind === 'read') reads.push(member);
    }
    let statements = (renewals.length > 0 ? 1 : 0) + (reads.length > 0 ? 1 : 0);
    const answered = () => {
      if (--statements === 0) release();
    };
    if (statements === 0) release();
    if (renewals.length > 0) void this.renew(renewals, leases).finally(answered);
    if (reads.length > 0) void this.read(reads).finally(answered);
  }

  private renew(
    renewals: RoundMember[],
    leases: readonly { readonly name: string; readonly term: number }[],
  ): Promise<void> {
    const tSend = this.clock.now();
    return this.store.renewMany(this.holder, leases, this.leaseMs).then(
      (count) => {
        // Some lease was lost: each election finds out which with its own renewal (harmless again).
        const outcome: RoundOutcome =
          count === renewals.length ? { kind: 'renewed', renewed: true, tSend } : { kind: 'retry' };
        for (const member of renewals) member.settle(outcome);
      },
      (error: unknown) => {
        const outcome: RoundOutcome = { kind: 'failed', error };
        for (const member of renewals) member.settle(outcome);
      },
    );
  }

  private read(members: RoundMember[]): Promise<void> {
    return this.store.readMany(members.map((member) => member.name)).then(
      (rows) => {
        for (const member of members) member.settle({ kind: 'read', row: rows.get(member.name) });
      },
      (error: unknown) => {
        const outcome: RoundOutcome = { kind: 'failed', error };
        for (const member of members) member.settle(outcome);
      },
    );
  }
}
