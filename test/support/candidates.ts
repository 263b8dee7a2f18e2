import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { RecordingLogger } from '../../libs/leader-election/testing/recording-logger';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  LeaderElectionModule,
  LeaderElectionService,
  type LeaderElectionModuleOptions,
} from 'nestjs-leader-election';

/** Fast timing for in-process tests: L = 1.5 s, R = 300 ms, P = 300 ms, M = 300 ms. */
export const FAST_TIMING = {
  leaseDurationMs: 1_500,
  renewIntervalMs: 300,
  pollIntervalMs: 300,
  safetyMarginMs: 300,
} as const satisfies Partial<LeaderElectionModuleOptions>;

export { RecordingLogger } from '../../libs/leader-election/testing/recording-logger';

/** One in-process Nest app taking part in the elections. */
export interface Candidate {
  readonly app: TestingModule;
  readonly service: LeaderElectionService;
  readonly logger: RecordingLogger;
  readonly closed: boolean;
  close(): Promise<void>;
}

export interface CandidateSetup {
  options: LeaderElectionModuleOptions;
  imports?: (Type | DynamicModule)[];
  providers?: Provider[];
  controllers?: Type[];
}

/** Boots a Nest app with `LeaderElectionModule.forRoot(options)` and runs its bootstrap hooks. */
export async function startCandidate(setup: CandidateSetup): Promise<Candidate> {
  const logger = new RecordingLogger();
  @Module({
    imports: [LeaderElectionModule.forRoot(setup.options), ...(setup.imports ?? [])],
    providers: setup.providers ?? [],
    controllers: setup.controllers ?? [],
  })
  class CandidateModule {}
  const app = await Test.createTestingModule({ imports: [CandidateModule] })
    .setLogger(logger)
    .compile();
  await app.init();
  let closed = false;
  return {
    app,
    service: app.get(LeaderElectionService),
    logger,
    get closed() {
      return closed;
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Polls `predicate` every 20 ms until it holds or `timeoutMs` passes; returns how long it took. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs: number,
  what = 'condition',
): Promise<number> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await sleep(20);
  }
  return Date.now() - start;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 50 ms until it returns something other than `undefined`; failed probes count as not yet. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}.`,
      );
    }
    await sleep(50);
  }
}

/** A `CandidateSetup` whose options may leave out what the pool provides (connection, defaults). */
export type PoolCandidateSetup = Omit<CandidateSetup, 'options'> & {
  options?: Partial<LeaderElectionModuleOptions>;
};

/**
 * The candidates one test file starts against one database: started with shared defaults, closed
 * together after each test.
 */
export class CandidatePool {
  private started: Candidate[] = [];

  constructor(
    private readonly url: () => string,
    private readonly defaults: Partial<LeaderElectionModuleOptions>,
  ) {}

  /** Every candidate started since the last `closeAll()`, in start order. */
  get all(): readonly Candidate[] {
    return this.started;
  }

  async start(name: string, tableName: string, extra: Partial<LeaderElectionModuleOptions> = {}) {
    return this.startApp({ options: { tableName, candidateId: name, ...extra } });
  }

  /**
   * Starts a candidate from a full setup (imports, providers, controllers); its options are laid over the
   * pool's connection and defaults. Closed by `closeAll()` like every other.
   */
  async startApp(setup: PoolCandidateSetup): Promise<Candidate> {
    const candidate = await startCandidate({
      ...setup,
      options: { connection: this.url(), ...this.defaults, ...setup.options },
    });
    this.started.push(candidate);
    return candidate;
  }

  /** The open candidates that lead the election right now. */
  leaders(election?: string): Candidate[] {
    return this.started.filter((c) => !c.closed && c.service.isLeader(election));
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.started.map((c) => c.close()));
    this.started = [];
  }
}
