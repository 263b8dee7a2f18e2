import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { LEASE_STORE } from '../leader-election.constants';
import type { Leadership } from '../leader-election.interfaces';
import { LeaderElectionOrchestrator } from '../leader-election.orchestrator';
import { LeaderElectionService } from '../leader-election.service';
import type { LeaseStore } from '../store/lease-store';
import {
  grantTimeoutMessage,
  revokeTimeoutMessage,
  unknownTestingElectionMessage,
} from './leader-election-testing.messages';
import type { TestingLeaseStore } from './testing-lease-store';

/** Injection token of the testing module's options. */
export const LEADER_ELECTION_TESTING_OPTIONS = Symbol('nestjs-leader-election:testing-options');

/** How long `grant()` / `revoke()` (and bootstrap with `leader: true`) wait before failing. */
const SETTLE_TIMEOUT_MS = 5_000;
const CHECK_EVERY_MS = 2;

/**
 * Decides who leads in a test app built with `LeaderElectionTestingModule`: `grant()` makes this app the
 * leader, `revoke()` gives leadership to "another instance". Both resolve once `isLeader()` has changed
 * and the `@OnLeadershipGranted()` / `@OnLeadershipRevoked()` hooks have run; the election itself runs
 * exactly as in production (leadership signals, `@LeaderOnly()`, `currentLeadership()`, `changes$`).
 *
 * @example
 * const testing = moduleRef.get(LeaderElectionTesting);
 * await testing.revoke();
 * expect(moduleRef.get(LeaderElectionService).isLeader()).toBe(false);
 */
@Injectable()
export class LeaderElectionTesting implements OnApplicationBootstrap {
  constructor(
    @Inject(LEASE_STORE) store: LeaseStore,
    private readonly service: LeaderElectionService,
    private readonly orchestrator: LeaderElectionOrchestrator,
    @Inject(LEADER_ELECTION_TESTING_OPTIONS) private readonly options: { readonly leader: boolean },
  ) {
    this.store = store as TestingLeaseStore;
  }

  private readonly store: TestingLeaseStore;

  /** With `leader: true`, `init()` resolves once this app leads every election. */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.leader) return;
    await Promise.all(this.service.elections.map((election) => this.grant(election)));
  }

  /**
   * Makes this app the leader of `election` (default: the first one); resolves with the leadership once
   * `isLeader()` is true and the granted hooks have run.
   */
  async grant(election?: string): Promise<Leadership> {
    const name = this.name(election);
    this.store.grant(name);
    await this.until(
      () => this.service.isLeader(name),
      () => grantTimeoutMessage(name, SETTLE_TIMEOUT_MS),
    );
    await this.orchestrator.hooksSettled();
    return this.service.leadershipOf(name) as Leadership;
  }

  /**
   * Gives `election` (default: the first one) to another instance, as a takeover would; resolves once
   * `isLeader()` is false, the leadership's signal has aborted and the revoked hooks have run.
   */
  async revoke(election?: string): Promise<void> {
    const name = this.name(election);
    this.store.revoke(name);
    await this.until(
      () => !this.service.isLeader(name),
      () => revokeTimeoutMessage(name, SETTLE_TIMEOUT_MS),
    );
    await this.orchestrator.hooksSettled();
  }

  private name(election: string | undefined): string {
    const { elections } = this.service;
    const name = election ?? elections[0];
    if (!elections.includes(name)) throw new Error(unknownTestingElectionMessage(name, elections));
    return name;
  }

  private async until(done: () => boolean, message: () => string): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(message());
      await new Promise<void>((resolve) => setTimeout(resolve, CHECK_EVERY_MS));
    }
  }
}
