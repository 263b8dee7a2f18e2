import { Controller, Get, Query } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { LeaderElectionService, type ElectionState } from 'nestjs-leader-election';
import { LeaderElectionHealthIndicator } from 'nestjs-leader-election/health';

const HEALTH_KEY = 'leaderElection';

/** Health for load balancers and the election's state for humans (and the tests). */
@Controller()
export class DemoController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly leaderElectionHealth: LeaderElectionHealthIndicator,
    private readonly leaderElection: LeaderElectionService,
  ) {}

  /** 200 on a healthy leader or follower, 503 when the lease statements fail; `?requireLeader=1`: 200 on the leader only. */
  @Get('health')
  @HealthCheck()
  check(@Query('requireLeader') requireLeader?: string) {
    const onlyLeader = requireLeader !== undefined && !['0', 'false', ''].includes(requireLeader);
    return this.health.check([
      () => this.leaderElectionHealth.isHealthy(HEALTH_KEY, { requireLeader: onlyLeader }),
    ]);
  }

  /** 200 on the leader only: route master-only traffic with it. */
  @Get('health/leader')
  @HealthCheck()
  checkLeader() {
    return this.health.check([
      () => this.leaderElectionHealth.isHealthy(HEALTH_KEY, { requireLeader: true }),
    ]);
  }

  /** This instance's view of the election. */
  @Get('leader')
  leader(): ElectionState {
    return this.leaderElection.getState();
  }
}
