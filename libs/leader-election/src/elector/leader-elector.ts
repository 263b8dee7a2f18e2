import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_MAX_DOORBELLS, DEFAULT_STANDBY_MODE } from '../leader-election.constants';
import type { LeaseStore } from '../store/lease-store';
import { BalancedGroup, type BalancedGroupSpec } from './balanced-group';
import { BatchingLeaseStore } from './batching-lease-store';
import { SharedDeadlines } from './shared-deadlines';
import { StepRound } from './step-round';
import { systemClock, type Clock } from './clock';
import { Election } from './election';
import type { ElectionMetrics } from './election-metrics';
import type { ElectionEvent, ElectionTiming, ElectorLogger } from './election-state';

/** Settings of one candidate process (already validated). */
export interface LeaderElectorConfig {
  readonly store: LeaseStore;
  /** The elections to take part in; at least one. */
  readonly elections: readonly string[];
  /**
   * Groups of those elections shared out among the live candidates (their names are among `elections`).
   * Needs a store with `readPrefix`.
   */
  readonly balanced?: readonly BalancedGroupSpec[];
  readonly candidateId: string;
  readonly timing: ElectionTiming;
  /** Whether to run `CREATE TABLE IF NOT EXISTS` before the first statement. */
  readonly createTable: boolean;
  readonly logger: ElectorLogger;
  readonly clock?: Clock;
  readonly random?: () => number;
  /**
   * How standbys learn that the lease is free: `doorbell` (wait on a named lock, read when the lease
   * would run out), `poll` (read every P), or `auto` (doorbell unless the server cannot share named
   * locks). Default `DEFAULT_STANDBY_MODE` (`auto`).
   */
  readonly standbyMode?: StandbyMode;
  /**
   * At most this many elections per process use a doorbell (one waiting connection each). Default
   * `DEFAULT_MAX_DOORBELLS`.
   */
  readonly maxDoorbells?: number;
  /** How long one doorbell wait blocks before it is sent again. Default `DEFAULT_DOORBELL_WAIT_MS`. */
  readonly doorbellWaitMs?: number;
  /** See `ElectionDeps.preferred`. */
  readonly preferred?: string;
  /** See `ElectionDeps.handoverWindowMs`. */
  readonly handoverWindowMs?: number;
  /** Where given, every election reports to it (see election-metrics.ts). */
  readonly metrics?: ElectionMetrics;
}

/** See `LeaderElectorConfig.standbyMode`. */
export type StandbyMode = 'auto' | 'doorbell' | 'poll';

/**
 * A fresh candidate id: `hostname:pid:random`, or `prefix:random` when the user names the candidate.
 * Never the bare hostname or a fixed name: two processes sharing an id would both believe they lead.
 */
export function generateCandidateId(prefix?: string): string {
  const suffix = randomBytes(4).toString('hex');
  return prefix ? `${prefix}:${suffix}` : `${hostname()}:${process.pid}:${suffix}`;
}

/**
 * One candidate taking part in several elections over one lease store. Each election runs its own state
 * machine; they share the store, the candidate id and the one-time schema setup.
 */
export class LeaderElector {
  private readonly elections = new Map<string, Election>();
  /** Balanced groups by prefix, and the election of this candidate's member row in each. */
  private readonly groups = new Map<string, { group: BalancedGroup; member: Election }>();
  private readonly listeners = new Set<(event: ElectionEvent) => void>();
  private schemaReady: Promise<void> | undefined;
  private doorbellChecked = false;
  private readonly store: LeaseStore;
  private readonly unobserve: (() => void) | undefined;

  constructor(private readonly config: LeaderElectorConfig) {
    // Several elections: batch their reads and renewals, and align their steps so that they coincide.
    const { store } = config;
    const clock = config.clock ?? systemClock;
    const balanced = config.balanced ?? [];
    if (balanced.length > 0 && !store.readPrefix) {
      throw new Error('Balanced elections need a lease store that can read rows by prefix (readPrefix).');
    }
    this.store =
      config.elections.length + balanced.length > 1 && BatchingLeaseStore.supports(store)
        ? new BatchingLeaseStore(store, { clock })
        : store;
    const batching = this.store !== store;
    // A grid as wide as R (and P) puts every election's renewal on the same tick; a renewal moves by at
    // most half a grid, so `R + grid / 2` must stay below `L - M`.
    const { leaseDurationMs: l, safetyMarginMs: m, renewIntervalMs: r, pollIntervalMs: p } = config.timing;
    const alignStepsToMs = batching ? Math.max(1, Math.min(r, p, l - m - r)) : undefined;
    // The elections' regular steps then run as one per grid point: one timer, one statement each way.
    const round = batching
      ? new StepRound(clock, this.store as BatchingLeaseStore, config.candidateId, l)
      : undefined;
    const mode = config.standbyMode ?? DEFAULT_STANDBY_MODE;
    const cap = config.maxDoorbells ?? DEFAULT_MAX_DOORBELLS;
    const openDoorbell = this.store.openDoorbell?.bind(this.store);
    const withDoorbell = mode !== 'poll' && openDoorbell ? config.elections.slice(0, cap) : [];
    if (mode !== 'poll' && openDoorbell && config.elections.length > cap) {
      config.logger.log(
        `Doorbells are capped at ${cap} per process (maxDoorbells): standbys of ` +
          `${config.elections.length - cap} more election(s) poll the lease every P.`,
      );
    }
    const common = {
      candidateId: config.candidateId,
      store: this.store,
      timing: config.timing,
      clock,
      logger: config.logger,
      random: config.random,
      ensureSchema: () => this.ensureSchema(),
      doorbellWaitMs: config.doorbellWaitMs,
      alignStepsToMs,
      round,
      // The leases one round renewed share the timer of their local deadline.
      deadlines: new SharedDeadlines(clock),
    };
    const groupOf = new Map<string, BalancedGroup>();
    for (const spec of balanced) {
      const group = new BalancedGroup({
        spec,
        candidateId: config.candidateId,
        store: this.store,
        timing: config.timing,
        clock,
        logger: config.logger,
        shard: (name) => this.elections.get(name),
        member: () => this.groups.get(spec.prefix)?.member,
      });
      group.names.forEach((name) => groupOf.set(name, group));
      // The member row: renewed with the shards (same grid, same batched statement), never reported.
      const member = new Election({
        ...common,
        name: group.memberRow,
        // Its routine transitions are no news to the user; trouble still is.
        logger: {
          log: () => undefined,
          warn: (m) => config.logger.warn(m),
          error: (m) => config.logger.error(m),
        },
        onEvent: (event) => {
          if (event.type === 'elected') group.memberElected();
        },
      });
      this.groups.set(spec.prefix, { group, member });
    }
    for (const name of config.elections) {
      const group = groupOf.get(name);
      this.elections.set(
        name,
        new Election({
          ...common,
          name,
          onEvent: (event) => {
            group?.shardChanged();
            this.listeners.forEach((listener) => listener(event));
          },
          doorbell: withDoorbell.includes(name) ? openDoorbell!(name) : undefined,
          preferred: config.preferred,
          handoverWindowMs: config.handoverWindowMs,
          metrics: config.metrics,
          mayCampaign: group && (() => group.mayCampaign(name)),
        }),
      );
    }
    this.unobserve = config.metrics?.observe(
      [...this.elections.values()].map((election) => ({
        name: election.name,
        isLeader: () => election.isLeader(),
        term: () => election.getState().term,
        leaderlessMs: () => election.leaderlessMs(),
      })),
    );
  }

  /** This candidate's id. */
  get candidateId(): string {
    return this.config.candidateId;
  }

  /** The names of the elections this candidate takes part in. */
  get electionNames(): string[] {
    return [...this.elections.keys()];
  }

  /** The election of that name, or `undefined` when it is not configured. */
  election(name: string): Election | undefined {
    return this.elections.get(name);
  }

  /** The balanced group with that prefix, or `undefined`. */
  balancedGroup(prefix: string): BalancedGroup | undefined {
    return this.groups.get(prefix)?.group;
  }

  /** Registers a listener for every transition of every election; returns its removal. */
  onEvent(listener: (event: ElectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Opens the lease connection and checks the table (and whether doorbells can work) ahead of `start()`,
   * in the background: the Nest layer calls it at module init, so that the elections' first read at
   * bootstrap finds a warm connection (a new process's first connection costs tens of milliseconds).
   * Never throws: a failure is left to the first step, which retries and reports it.
   */
  warmUp(): void {
    // A process's first AbortController.abort() costs about 0.7 ms (Node sets the machinery up then):
    // paid now rather than in the step-down that opens a handover.
    const warm = new AbortController();
    warm.signal.addEventListener('abort', () => undefined);
    warm.abort(new Error('warm-up'));
    const first = this.elections.keys().next().value;
    this.ensureSchema()
      .then(() => (this.config.createTable || first === undefined ? undefined : this.store.read(first)))
      .catch(() => undefined);
  }

  /** Starts campaigning in every election; never throws for database trouble (see state instead). */
  start(): void {
    for (const election of this.elections.values()) election.start();
    for (const { group, member } of this.groups.values()) {
      member.start();
      group.start();
    }
  }

  /** Ends leadership for the application in every election while still holding the leases. */
  beginShutdown(): void {
    for (const election of this.elections.values()) election.beginShutdown();
    for (const { member } of this.groups.values()) member.beginShutdown();
  }

  /** Stops every election, releases held leases, and closes the store. */
  async stop(): Promise<void> {
    for (const { group } of this.groups.values()) group.stop();
    const members = [...this.groups.values()].map(({ member }) => member);
    await Promise.all([...this.elections.values(), ...members].map((election) => election.stop()));
    this.unobserve?.();
    await this.store.close();
  }

  private ensureSchema(): Promise<void> {
    this.schemaReady ??= this.prepare().catch((error: unknown) => {
      this.schemaReady = undefined; // try again at the next step
      throw error;
    });
    return this.schemaReady;
  }

  /** Once per process: the table (unless the user manages it), and whether doorbells can work here. */
  private async prepare(): Promise<void> {
    if (this.config.createTable) await this.store.ensureSchema();
    if (this.doorbellChecked || (this.config.standbyMode ?? DEFAULT_STANDBY_MODE) !== 'auto') return;
    const reason = await this.store.doorbellUnsupportedReason?.();
    this.doorbellChecked = true; // only once it answered: a failed check runs again with the next step
    if (reason) for (const election of this.elections.values()) election.disableDoorbell(reason);
  }
}
