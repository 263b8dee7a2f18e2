import { Injectable, Optional } from '@nestjs/common';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { healthWithoutServiceMessage } from '../leader-election.messages';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { performance } from 'node:perf_hooks';
import type { ElectionState } from '../elector/election-state';
import { LeaderElectionService } from '../leader-election.service';

/** Options of `LeaderElectionHealthIndicator.isHealthy()`. */
export interface LeaderElectionHealthOptions {
  /** The election to report on. Default: the module's first election. */
  election?: string;
  /**
   * Down unless this instance is the leader: for a route that sends traffic to the master only.
   * Default `false`: a healthy follower is up.
   */
  requireLeader?: boolean;
}

/** What the indicator reports under its key, up or down. Never holds connection options. */
export interface LeaderElectionHealthDetails extends Record<string, unknown> {
  readonly election: string;
  readonly role: ElectionState['role'];
  readonly candidateId: string;
  readonly leaderId: string | null;
  readonly term: number;
  readonly lastContactAgoMs: number | null;
  /** The last failed lease statement, credentials removed by the library, or `null`. */
  readonly lastError: string | null;
  readonly lastErrorKind: ElectionState['lastErrorKind'];
  /** Why the indicator is down; absent when up. */
  readonly reason?: string;
}

/**
 * A Terminus health indicator for one election. Up for a healthy leader and a healthy follower; down when
 * the lease statements fail (database unreachable, bad credentials, ...), when no statement has succeeded
 * for longer than the lease, when the election is not running, and, with `requireLeader`, on followers.
 * It reports, it never throws.
 *
 * Imported from `nestjs-leader-election/health`, so that apps without Terminus never load it.
 *
 * @example
 * ```ts
 * import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
 * import { LeaderElectionHealthIndicator, LeaderElectionHealthModule } from 'nestjs-leader-election/health';
 *
 * @Controller('health')
 * class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly leaderElection: LeaderElectionHealthIndicator,
 *   ) {}
 *
 *   @Get() // readiness of every instance
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.leaderElection.isHealthy('leaderElection')]);
 *   }
 *
 *   @Get('leader') // 200 on the master only: route master-only traffic with it
 *   @HealthCheck()
 *   leader() {
 *     return this.health.check([() => this.leaderElection.isHealthy('leaderElection', { requireLeader: true })]);
 *   }
 * }
 *
 * @Module({
 *   imports: [LeaderElectionModule.forRoot({ connection: process.env.MYSQL_URL! }), TerminusModule, LeaderElectionHealthModule],
 *   controllers: [HealthController],
 * })
 * export class AppModule {}
 * ```
 */
@Injectable()
export class LeaderElectionHealthIndicator {
  /**
   * Stands in for the election's start when no statement has succeeded yet: the indicator is built while
   * the application initialises, just before campaigning starts, so this errs on the side of "down sooner".
   */
  private readonly createdAt = performance.now();

  private readonly leaderElection: LeaderElectionService;

  constructor(
    private readonly healthIndicatorService: HealthIndicatorService,
    // Optional only to replace Nest's generic "can't resolve dependencies" with a message that says why.
    @Optional() leaderElection?: LeaderElectionService,
  ) {
    if (!leaderElection) throw new LeaderElectionConfigError(healthWithoutServiceMessage());
    this.leaderElection = leaderElection;
  }

  /**
   * Checks one election as this instance sees it; evaluated in memory, no database round trip.
   *
   * @param key the key of the result in the health check's output, e.g. `'leaderElection'`
   * @example
   * this.health.check([() => this.leaderElection.isHealthy('leaderElection', { requireLeader: true })]);
   */
  isHealthy<const Key extends string>(
    key: Key,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    const session = this.healthIndicatorService.check(key);
    let state: ElectionState;
    try {
      state = this.leaderElection.getState(options.election);
    } catch (error) {
      // An unknown election name: report it rather than fail the whole health check.
      return session.down({ election: String(options.election), reason: errorMessage(error) });
    }
    const details: LeaderElectionHealthDetails = {
      election: state.election,
      role: state.role,
      candidateId: state.candidateId,
      leaderId: state.leaderId,
      term: state.term,
      lastContactAgoMs: state.lastContactAgoMs,
      lastError: state.lastError,
      lastErrorKind: state.lastErrorKind,
    };
    const reason = this.downReason(state, options.requireLeader === true);
    return reason === undefined ? session.up(details) : session.down({ ...details, reason });
  }

  private downReason(state: ElectionState, requireLeader: boolean): string | undefined {
    if (state.status !== 'running') return `the election is ${state.status}`;
    if (!state.healthy) {
      return `lease statements fail (${state.lastErrorKind ?? 'error'}): ${state.lastError ?? 'unknown error'}`;
    }
    const { leaseDurationMs, pollIntervalMs, operationTimeoutMs } = this.leaderElection.settings;
    // A doorbell standby reads about once per lease, a polling one every P: allow one such interval plus
    // the statement's own deadline before calling the contact stale.
    const staleAfterMs = Math.max(leaseDurationMs, pollIntervalMs) + operationTimeoutMs;
    if (state.lastContactAgoMs === null) {
      const sinceStartMs = Math.round(performance.now() - this.createdAt);
      if (sinceStartMs > staleAfterMs) {
        return `no lease statement has succeeded since start (${sinceStartMs} ms ago)`;
      }
    } else if (state.lastContactAgoMs > staleAfterMs) {
      return `no lease statement has succeeded for ${state.lastContactAgoMs} ms (limit ${staleAfterMs} ms)`;
    }
    if (requireLeader && state.role !== 'leader') {
      return `this instance is not the leader (leader: ${state.leaderId ?? 'none'})`;
    }
    return undefined;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
