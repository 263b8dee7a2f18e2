import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { LeaderElectionService, LeaderOnly } from 'nestjs-leader-election';

/** The demo's leader-only work: one log line per run, naming the candidate and the term it ran under. */
@Injectable()
export class DemoJobs {
  private readonly logger = new Logger('DemoJobs');
  private runs = 0;

  constructor(private readonly leaderElection: LeaderElectionService) {}

  /**
   * Every second, on the leader only. The tests and `npm run demo` parse this line:
   * `leader-only job ran: run=<n> candidate=<id> term=<term> at=<ISO time>`.
   */
  @Interval(1000)
  @LeaderOnly()
  heartbeat(): void {
    const leadership = this.leaderElection.currentLeadership();
    this.runs += 1;
    this.logger.log(
      `leader-only job ran: run=${this.runs} candidate=${this.leaderElection.candidateId} ` +
        `term=${leadership?.term ?? 'none'} at=${new Date().toISOString()}`,
    );
  }
}
