import { Module, type Provider, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { LEADER_ELECTION_CLOCK, LEASE_STORE, RUNS_STORE } from '../src/leader-election.constants';
import { LeaderElectionModule } from '../src/leader-election.module';
import type { LeaderElectionModuleOptions } from '../src/leader-election.options';
import { LeaderElectionService } from '../src/leader-election.service';
import type { FakeClock, FakeProcessClock } from './fake-clock';
import type { MemoryLeaseStore } from './memory-lease-store';
import { RecordingLogger } from './recording-logger';
import { MemoryRunsStore } from './memory-runs-store';

/** One Nest app with the real module on the in-memory store and a fake clock: no database, no sleeps. */
export interface MemoryNestApp {
  readonly app: TestingModule;
  readonly service: LeaderElectionService;
  readonly logger: RecordingLogger;
  close(): Promise<void>;
}

/**
 * Boots `LeaderElectionModule.forRoot(options)` with `LEASE_STORE`, `RUNS_STORE` and `LEADER_ELECTION_CLOCK`
 * replaced by `store.client(label)`, `runs.client(label)` and `clock`, plus the given providers, and runs its bootstrap hooks.
 */
export async function startMemoryNestApp(setup: {
  store: MemoryLeaseStore;
  clock: FakeClock | FakeProcessClock;
  label: string;
  options?: Partial<LeaderElectionModuleOptions>;
  providers?: Provider[];
  imports?: Type[];
  /** The runs table of `once` jobs, shared by the apps of one test (default: a fresh one). */
  runs?: MemoryRunsStore;
}): Promise<MemoryNestApp> {
  const logger = new RecordingLogger();
  @Module({
    imports: [
      LeaderElectionModule.forRoot({
        connection: 'mysql://unused@localhost/unused',
        candidateId: setup.label,
        standbyMode: 'poll',
        ...setup.options,
      }),
      ...(setup.imports ?? []),
    ],
    providers: setup.providers ?? [],
  })
  class MemoryAppModule {}
  const app = await Test.createTestingModule({ imports: [MemoryAppModule] })
    .overrideProvider(LEASE_STORE)
    .useValue(setup.store.client(setup.label))
    .overrideProvider(RUNS_STORE)
    .useValue((setup.runs ?? new MemoryRunsStore(setup.store)).client(setup.label))
    .overrideProvider(LEADER_ELECTION_CLOCK)
    .useValue(setup.clock)
    .setLogger(logger)
    .compile();
  await app.init();
  return { app, service: app.get(LeaderElectionService), logger, close: () => app.close() };
}
