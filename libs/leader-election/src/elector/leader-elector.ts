import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseStore } from '../store/lease-store';
import { systemClock, type Clock } from './clock';
import { Election } from './election';
import type { ElectionEvent, ElectionTiming, ElectorLogger } from './election-state';

/** Settings of one candidate process (already validated). */
export interface LeaderElectorConfig {
  readonly store: LeaseStore;
  /** The elections to take part in; at least one. */
  readonly elections: readonly string[];
  readonly candidateId: string;
  readonly timing: ElectionTiming;
  /** Whether to run `CREATE TABLE IF NOT EXISTS` before the first statement. */
  readonly createTable: boolean;
  readonly logger: ElectorLogger;
  readonly clock?: Clock;
  readonly random?: () => number;
}

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
  private readonly listeners = new Set<(event: ElectionEvent) => void>();
  private schemaReady: Promise<void> | undefined;

  constructor(private readonly config: LeaderElectorConfig) {
    for (const name of config.elections) {
      this.elections.set(
        name,
        new Election({
          name,
          candidateId: config.candidateId,
          store: config.store,
          timing: config.timing,
          clock: config.clock ?? systemClock,
          logger: config.logger,
          random: config.random,
          ensureSchema: () => this.ensureSchema(),
          onEvent: (event) => this.listeners.forEach((listener) => listener(event)),
        }),
      );
    }
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

  /** Registers a listener for every transition of every election; returns its removal. */
  onEvent(listener: (event: ElectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts campaigning in every election; never throws for database trouble (see state instead). */
  start(): void {
    for (const election of this.elections.values()) election.start();
  }

  /** Ends leadership for the application in every election while still holding the leases. */
  beginShutdown(): void {
    for (const election of this.elections.values()) election.beginShutdown();
  }

  /** Stops every election, releases held leases, and closes the store. */
  async stop(): Promise<void> {
    await Promise.all([...this.elections.values()].map((election) => election.stop()));
    await this.config.store.close();
  }

  private ensureSchema(): Promise<void> {
    if (!this.config.createTable) return Promise.resolve();
    this.schemaReady ??= this.config.store.ensureSchema().catch((error: unknown) => {
      this.schemaReady = undefined; // try again at the next step
      throw error;
    });
    return this.schemaReady;
  }
}
