import type { LeaseStore } from '../src/store/lease-store';
import { Election } from '../src/elector/election';
import type { ElectionEvent, ElectionTiming } from '../src/elector/election-state';
import type { LeaderElector } from '../src/elector/leader-elector';
import { FakeClock, runTimers, runTimersUntil, type FakeProcessClock } from './fake-clock';
import { MemoryLeaseStore, type MemoryDoorbell, type MemoryLeaseStoreOptions } from './memory-lease-store';
import { RecordingLogger } from './recording-logger';

export { RecordingLogger } from './recording-logger';

/** One candidate that believes, at one instant, that it leads an election. */
export interface Believer {
  readonly election: string;
  readonly id: string;
  readonly term: number | undefined;
}

/** One simulated process taking part in the harness's election. */
export interface HarnessCandidate {
  readonly id: string;
  readonly election: Election;
  readonly clock: FakeProcessClock;
  readonly logger: RecordingLogger;
  readonly events: { at: number; event: ElectionEvent }[];
  /** Its doorbell as the store sees it, when it has one. */
  readonly doorbell: MemoryDoorbell | undefined;
  /** `[type, term]` of the elected / revoked events, in order. */
  transitions(): [string, number][];
}

/** How a harness builds its world. */
export interface ElectorHarnessOptions {
  readonly timing: ElectionTiming;
  /** The election the candidates of `candidate()` take part in. Default `default`. */
  readonly name?: string;
  readonly store?: MemoryLeaseStoreOptions;
  /**
   * Each candidate talks through `store.client(id)`, its own connections (what named locks and faults
   * aimed at one process need); otherwise through the store itself.
   */
  readonly clientViews?: boolean;
}

/** Options of one candidate of `ElectorHarness.candidate()`. */
export interface HarnessCandidateOptions {
  readonly random?: () => number;
  /** Another view of the database (e.g. one that fails some statements). */
  readonly store?: LeaseStore;
  /** `false`: no doorbell even when the store has named locks. */
  readonly doorbell?: boolean;
  readonly wallOffsetMs?: number;
  readonly monotonicOffsetMs?: number;
}

/**
 * One simulated world for elector tests: a fake timeline, one database (the memory store) and
 * candidates, each its own process with its own monotonic origin.
 *
 * The safety invariant is checked at every timer the clock fires (however the test moves time), at the
 * end of every `run()` / `runUntil()` step and at every election: at no instant may two candidates
 * believe they lead one election, and whoever believes it leads holds a lease the database still
 * considers valid (its holder, its term, not expired on the database's clock). Violations are recorded,
 * and `assertNoViolations()` (called in `afterEach`, see `ElectorHarnesses`) fails the test.
 */
export class ElectorHarness {
  readonly clock: FakeClock;
  readonly store: MemoryLeaseStore;
  readonly candidates: HarnessCandidate[] = [];
  private readonly believers: (() => readonly Believer[])[] = [];
  private readonly found = new Set<string>();
  private leaseBackingChecked = true;
  private atMostOneLeaderChecked = true;

  constructor(private readonly options: ElectorHarnessOptions) {
    this.clock = new FakeClock();
    this.store = new MemoryLeaseStore(this.clock, options.store);
    this.clock.afterEachTimer(() => this.check());
    this.watch(() =>
      this.candidates
        .filter((c) => c.election.isLeader())
        .map((c) => ({ election: c.election.name, id: c.id, term: c.election.currentLeadership()?.term })),
    );
  }

  /** The violations of the safety invariant recorded so far. */
  get violations(): readonly string[] {
    return [...this.found];
  }

  /** Adds a source of candidates that believe they lead (e.g. the elections of a `LeaderElector`). */
  watch(believers: () => readonly Believer[]): void {
    this.believers.push(believers);
  }

  /** Watches every election of a `LeaderElector` that runs as candidate `id`. */
  watchElector(id: string, elector: LeaderElector): void {
    this.watch(() =>
      elector.electionNames
        .map((name) => elector.election(name)!)
        .filter((election) => election.isLeader())
        .map((election) => ({ election: election.name, id, term: election.currentLeadership()?.term })),
    );
  }

  /** A new candidate of the harness's election, in a process of its own; not started. */
  candidate(id: string, config: HarnessCandidateOptions = {}): HarnessCandidate {
    const name = this.options.name ?? 'default';
    const clock = this.clock.process({
      // Every process has its own monotonic origin; none of them may matter.
      monotonicOffsetMs: config.monotonicOffsetMs ?? 1_000_000 * (this.candidates.length + 1) + 17,
      wallOffsetMs: config.wallOffsetMs ?? 0,
    });
    const view = config.store ?? (this.options.clientViews ? this.store.client(id) : this.store);
    const logger = new RecordingLogger();
    const events: HarnessCandidate['events'] = [];
    const doorbell = config.doorbell === false ? undefined : view.openDoorbell?.(name);
    const election = new Election({
      name,
      candidateId: id,
      store: view,
      timing: this.options.timing,
      clock,
      logger,
      ensureSchema: () => view.ensureSchema(),
      onEvent: (event) => {
        events.push({ at: this.clock.now(), event });
        if (event.type === 'elected') this.check();
      },
      random: config.random ?? (() => 0.5),
      doorbell,
    });
    const doorbellOfStore = this.store.doorbells.find((d) => d === doorbell);
    const candidate: HarnessCandidate = {
      id,
      election,
      clock,
      logger,
      events,
      doorbell: doorbellOfStore,
      transitions: () =>
        events
          .filter(({ event }) => event.type === 'elected' || event.type === 'revoked')
          .map(({ event }) => [event.type, event.term]),
    };
    this.candidates.push(candidate);
    return candidate;
  }

  /** Starts `first` and runs until it leads (within 1 s), then starts `standbys` (time does not move). */
  async elect(first: HarnessCandidate, ...standbys: HarnessCandidate[]): Promise<void> {
    first.election.start();
    await this.runUntil(() => first.election.isLeader(), 1_000, `leader ${first.id}`);
    standbys.forEach((c) => c.election.start());
  }

  /** The candidates of `candidate()` that believe they lead now. */
  leaders(): HarnessCandidate[] {
    return this.candidates.filter((c) => c.election.isLeader());
  }

  /** Moves time by `ms`, timer by timer, checking the invariant at each. */
  run(ms: number): Promise<void> {
    return runTimers(this.clock, ms, () => this.check());
  }

  /** Moves time timer by timer until `predicate` holds; throws when it does not within `limitMs`. */
  runUntil(predicate: () => boolean, limitMs: number, what: string): Promise<void> {
    return runTimersUntil(this.clock, predicate, limitMs, what, () => this.check());
  }

  /** For a test that corrupts or deletes the row on purpose: only "at most one leader" is checked. */
  skipLeaseBackingCheck(): void {
    this.leaseBackingChecked = false;
  }

  /**
   * For a test that deletes the row under a leader on purpose: a candidate that re-creates it can
   * acquire while the old leader still believes until its next renewal (terms stay unique: that is
   * what such a test asserts). Only the other checks remain.
   */
  skipAtMostOneLeaderCheck(): void {
    this.atMostOneLeaderChecked = false;
  }

  /** Checks the invariant now and records what breaks it. */
  check(): void {
    const byElection = new Map<string, Believer[]>();
    for (const source of this.believers) {
      for (const believer of source()) {
        byElection.set(believer.election, [...(byElection.get(believer.election) ?? []), believer]);
      }
    }
    const t = this.clock.now();
    for (const [election, leaders] of byElection) {
      if (leaders.length > 1 && this.atMostOneLeaderChecked) {
        this.found.add(`t=${t}: ${leaders.map((l) => l.id).join(' and ')} both lead "${election}"`);
      }
      if (!this.leaseBackingChecked) continue;
      for (const leader of leaders) {
        const row = this.store.row(election);
        if (
          !row ||
          row.holder !== leader.id ||
          row.term !== leader.term ||
          !(row.expiresAt > this.store.dbNow())
        ) {
          this.found.add(
            `t=${t}: ${leader.id} leads "${election}" (term ${leader.term}) but the row is ${JSON.stringify(row)}`,
          );
        }
      }
    }
  }

  /** Fails with every violation recorded, after one last check. */
  assertNoViolations(): void {
    this.check();
    if (this.found.size === 0) return;
    throw new Error(`The safety invariant was violated:\n${this.violations.join('\n')}`);
  }
}

/**
 * The harnesses of one spec file, each asserted after its test:
 *
 * @example
 * const harnesses = new ElectorHarnesses();
 * afterEach(() => harnesses.assertNoViolations());
 * it('...', async () => {
 *   const h = harnesses.create({ timing: TIMING });
 * });
 */
export class ElectorHarnesses {
  private made: ElectorHarness[] = [];

  /** A new harness, asserted at the next `assertNoViolations()`. */
  create(options: ElectorHarnessOptions): ElectorHarness {
    const harness = new ElectorHarness(options);
    this.made.push(harness);
    return harness;
  }

  /** Asserts every harness created since the last call (then forgets them). */
  assertNoViolations(): void {
    const made = this.made;
    this.made = [];
    for (const harness of made) harness.assertNoViolations();
  }
}
