import { createHash } from 'node:crypto';
import type { LeaseStore } from '../store/lease-store';
import type { Clock, TimerHandle } from './clock';
import type { Election } from './election';
import type { ElectionTiming, ElectorLogger } from './election-state';

/** A group of elections shared out among the live candidates: `${prefix}0` … `${prefix}${count - 1}`. */
export interface BalancedGroupSpec {
  readonly prefix: string;
  readonly count: number;
}

/** Between a group's prefix and a member's hash in the name of its member row (never in a prefix). */
export const MEMBER_INFIX = '~member~';
/** A shard taken because its owner left it unheld for L is not handed back for this many L. */
const KEEP_TAKEN_SHARD_LEASES = 10;
/** Member rows expired for longer than this (and at least 10 L) are deleted when a candidate joins. */
const MEMBER_ROW_RETENTION_MS = 60_000;

/** The election names of a group, in shard order. */
export function balancedElectionNames(spec: BalancedGroupSpec): string[] {
  return Array.from({ length: spec.count }, (_, i) => `${spec.prefix}${i}`);
}

/** The prefix of every member row of the group with `prefix`. */
export function memberPrefix(prefix: string): string {
  return `${prefix}${MEMBER_INFIX}`;
}

/** The lease row through which `candidateId` is a live member of the group (fixed length, any id). */
export function memberRowName(prefix: string, candidateId: string): string {
  return `${memberPrefix(prefix)}${createHash('sha256').update(candidateId).digest('hex').slice(0, 16)}`;
}

/**
 * Who should lead each shard, computed alike by every candidate from the same view: the live members
 * (sorted), and who holds each shard now. Member `r` (by rank) gets a quota of `floor(N / k)`, plus one
 * for the first `N mod k` ranks. Each member keeps the shards it holds up to its quota (lowest indexes
 * first); every other shard (unheld, held by a dead member, or over a quota) goes, in index order, to
 * the members below their quota, by rank. So counts differ by at most one, and a change of membership
 * moves only the shares it must: a dead member's, or the excess handed to one that joined.
 */
export function assignShares(
  names: readonly string[],
  members: readonly string[],
  holderOf: (name: string) => string | null,
): Map<string, string> {
  const owners = new Map<string, string>();
  const k = members.length;
  if (k === 0) return owners;
  const rank = new Map(members.map((member, r) => [member, r]));
  const quota = members.map((_, r) => Math.floor(names.length / k) + (r < names.length % k ? 1 : 0));
  const kept = members.map(() => 0);
  const free: string[] = [];
  for (const name of names) {
    const holder = holderOf(name);
    const r = holder === null ? undefined : rank.get(holder);
    if (r !== undefined && kept[r] < quota[r]) {
      kept[r]++;
      owners.set(name, members[r]);
    } else {
      free.push(name);
    }
  }
  let r = 0;
  for (const name of free) {
    while (kept[r] >= quota[r]) r++;
    kept[r]++;
    owners.set(name, members[r]);
  }
  return owners;
}

/** What a balanced group needs from its elector. */
export interface BalancedGroupDeps {
  readonly spec: BalancedGroupSpec;
  readonly candidateId: string;
  readonly store: LeaseStore;
  readonly timing: ElectionTiming;
  readonly clock: Clock;
  readonly logger: ElectorLogger;
  /** The group's shard elections and this candidate's member row election, once they exist. */
  readonly shard: (name: string) => Election | undefined;
  readonly member: () => Election | undefined;
}

/**
 * One candidate's part in a balanced group (docs/design.md, "Balanced leadership"). Membership is a
 * lease row per candidate, renewed in the same batched statement as its shards, so that it expires with
 * them; one read per P lists the live members. Every candidate computes the same `assignShares`, campaigns
 * only for its own shards (and for any shard left unheld longer than L), and resigns shards that the
 * assignment gives to another live member. The lease protocol alone keeps one leader per shard; the
 * balance is a liveness goal.
 */
export class BalancedGroup {
  readonly names: readonly string[];
  private members: readonly string[] = [];
  private owners = new Map<string, string>();
  private dirty = true;
  private readonly unheldSince = new Map<string, number>();
  /** Shards campaigned for past their owner (left unheld for L): kept until then, not handed back. */
  private readonly keepUntil = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private reading = false;
  private stopped = false;
  private pruned = false;
  private loggedShare: string | undefined;

  constructor(private readonly deps: BalancedGroupDeps) {
    this.names = balancedElectionNames(deps.spec);
  }

  /** The name of this candidate's member row. */
  get memberRow(): string {
    return memberRowName(this.deps.spec.prefix, this.deps.candidateId);
  }

  /** The live members as last read, sorted. */
  get liveMembers(): readonly string[] {
    return this.members;
  }

  /** Starts reading the member list (the member row's election is started by the elector). */
  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** This candidate's member row was acquired: read the member list now. */
  memberElected(): void {
    if (!this.pruned && this.deps.store.deleteExpiredPrefix) {
      this.pruned = true;
      const retention = Math.max(MEMBER_ROW_RETENTION_MS, 10 * this.deps.timing.leaseDurationMs);
      // Rows of candidates that ended without releasing (crashes) would pile up, one per process start.
      this.deps.store
        .deleteExpiredPrefix(memberPrefix(this.deps.spec.prefix), retention)
        .catch(() => (this.pruned = false));
    }
    this.schedule(0);
  }

  /** Some shard changed hands as this candidate saw it: recompute the assignment at the next question. */
  shardChanged(): void {
    this.dirty = true;
  }

  /** Whether this candidate may campaign for `name` now: its own share, or a shard left unheld past L. */
  mayCampaign(name: string): boolean {
    const owner = this.assignment().get(name);
    if (owner === this.deps.candidateId) {
      this.unheldSince.delete(name);
      return true;
    }
    const now = this.deps.clock.now();
    if (this.holderOf(name) !== null) {
      this.unheldSince.delete(name);
      return false;
    }
    const since = this.unheldSince.get(name) ?? now;
    this.unheldSince.set(name, since);
    // Its owner has not taken it within a lease (or no member is known): anybody may, and whoever wins
    // keeps it a while rather than handing it back to an owner that may fail again.
    const { leaseDurationMs } = this.deps.timing;
    if (now - since < leaseDurationMs) return false;
    this.keepUntil.set(name, now + KEEP_TAKEN_SHARD_LEASES * leaseDurationMs);
    return true;
  }

  /** Names of the group's elections this candidate leads now, in shard order. */
  led(): string[] {
    return this.names.filter((name) => this.deps.shard(name)?.isLeader());
  }

  private holderOf(name: string): string | null {
    const election = this.deps.shard(name);
    if (!election) return null;
    if (election.isLeader()) return this.deps.candidateId;
    return election.leaderId;
  }

  private assignment(): Map<string, string> {
    if (this.dirty) {
      this.owners = assignShares(this.names, this.members, (name) => this.holderOf(name));
      this.dirty = false;
    }
    return this.owners;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.readMembers();
    }, ms);
  }

  private async readMembers(): Promise<void> {
    const { store, timing, spec } = this.deps;
    if (this.reading || this.stopped || !store.readPrefix) return;
    this.reading = true;
    let next = timing.pollIntervalMs;
    try {
      const rows = await store.readPrefix(memberPrefix(spec.prefix));
      const live = [...rows.values()].filter((row) => row.valid && row.holder !== '');
      this.members = [...new Set(live.map((row) => row.holder))].sort();
      // A member that stopped renewing drops out the moment its row expires: read again right then.
      for (const row of live) next = Math.min(next, row.remainingUs / 1000 + 1);
      this.dirty = true;
      this.rebalance();
    } catch {
      // The shard elections report database trouble; the last member list stands meanwhile.
    } finally {
      this.reading = false;
      if (!this.stopped) this.schedule(Math.max(0, next));
    }
  }

  /** Campaigns at once for own shards nobody holds, and hands shards owned by others back. */
  private rebalance(): void {
    if (this.deps.member()?.isLeader() !== true) return;
    const owners = this.assignment();
    let mine = 0;
    for (const name of this.names) {
      const election = this.deps.shard(name);
      if (!election) continue;
      const owner = owners.get(name);
      if (owner === this.deps.candidateId) {
        mine++;
        const holder = this.holderOf(name);
        // Unheld, or held by a member that is gone (its lease ran out with its member row): take it now.
        if (!election.isLeader() && (holder === null || !this.members.includes(holder))) election.stepNow();
      } else if (owner !== undefined && election.isLeader()) {
        if ((this.keepUntil.get(name) ?? -Infinity) > this.deps.clock.now()) continue;
        void election.resign();
      }
    }
    const share = `${this.members.length}:${mine}`;
    if (share !== this.loggedShare) {
      this.loggedShare = share;
      this.deps.logger.log(
        `Balanced elections "${this.deps.spec.prefix}*": ${this.members.length} live member(s); ` +
          `this instance's share is ${mine} of ${this.names.length}.`,
      );
    }
  }
}
