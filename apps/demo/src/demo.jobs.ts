import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Interval, SchedulerRegistry } from '@nestjs/schedule';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaderElectionService, LeaderOnly, NotLeaderError } from 'nestjs-leader-election';
import { DEMO_CONFIG, type DemoConfig } from './demo.config';
import { appendOnce, DemoLedger, errorMessage } from './demo.ledger';

/** The run-once job's period and its name in the runs table (the library's default `Class.method`). */
export const ONCE_JOB_MS = 500;
export const ONCE_JOB = 'DemoJobs.onceTick';

/**
 * The demo's leader-only work: one log line per run, naming the candidate and the term it ran under, and
 * one row appended to the ledger through a fenced transaction (`runFenced`), so that a write commits only
 * under the leadership it was made in.
 */
@Injectable()
export class DemoJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger('DemoJobs');
  private runs = 0;
  /** A ledger write is in progress: a run that finds one skips its own, so writes never pile up. */
  private writing = false;
  /** The last refusal or failure logged at warn level (`<term>:<kind>`); repeats of it go to debug. */
  private lastWarned: string | undefined;

  constructor(
    private readonly leaderElection: LeaderElectionService,
    private readonly ledger: DemoLedger,
    private readonly scheduler: SchedulerRegistry,
    @Inject(DEMO_CONFIG) private readonly config: DemoConfig,
  ) {}

  /**
   * `@Interval()` fixes its period when the class is defined, before the environment is read; so the
   * interval (JOB_MS) is registered here instead. ScheduleModule clears it at shutdown like its own.
   */
  onApplicationBootstrap(): void {
    const timer = setInterval(() => void this.heartbeat(), this.config.jobIntervalMs);
    this.scheduler.addInterval('demo-heartbeat', timer);
  }

  /**
   * Every `JOB_MS` (default 1 s), on the leader only. The tests and `npm run demo` parse this line:
   * `leader-only job ran: run=<n> candidate=<id> term=<term> at=<ISO time>`.
   */
  @LeaderOnly()
  async heartbeat(): Promise<void> {
    const leadership = this.leaderElection.currentLeadership();
    this.runs += 1;
    const run = this.runs;
    this.logger.log(
      `leader-only job ran: run=${run} candidate=${this.leaderElection.candidateId} ` +
        `term=${leadership?.term ?? 'none'} at=${new Date().toISOString()}`,
    );
    if (this.writing) return;
    this.writing = true;
    try {
      await this.appendToLedger(run, leadership?.term);
    } finally {
      this.writing = false;
    }
  }

  /**
   * Every 500 ms occurrence (on the database's clock), run at most once across the cluster: the library
   * claims the occurrence in the runs table (`RUNS_TABLE`) before calling it, and after a handover runs
   * the occurrences nobody ran (`missed: 'all'`). Each run appends (job, occurrence, instance) to
   * `ONCE_TABLE`; `npm run demo` counts occurrences that appear twice there. No log line per run.
   */
  @Interval(ONCE_JOB_MS)
  @LeaderOnly({ once: true, missed: 'all' })
  async onceTick(): Promise<void> {
    const occurrence = this.leaderElection.currentLeadership()?.occurrence;
    if (!occurrence) return;
    try {
      await this.ledger.ready();
      await appendOnce(this.ledger, ONCE_JOB, occurrence, this.leaderElection.candidateId);
    } catch (error) {
      // Thrown on: the library records the run `failed` with this message.
      this.logger.warn(`run-once write of ${occurrence.toISOString()} failed: ${errorMessage(error)}`);
      throw error;
    }
  }

  /** One fenced ledger write. Never throws: the interval timer would turn a rejection into a crash. */
  private async appendToLedger(run: number, expectedTerm: number | undefined): Promise<void> {
    const instance = this.leaderElection.candidateId;
    const hold = this.config.fenceHoldMs;
    let term = expectedTerm;
    let row: number | undefined;
    try {
      await this.ledger.ready();
      await this.leaderElection.runFenced(this.ledger.db, async (trx, leadership) => {
        term = leadership.term;
        if (hold > 0) {
          // The tests send SIGSTOP when they read this line: the process stops inside the transaction.
          this.logger.log(
            `fenced write open: run=${run} term=${term} holding=${hold} ms at=${new Date().toISOString()}`,
          );
          await sleep(hold);
        }
        // The insert is the last statement before the commit, so the row's id (taken at insert, not at
        // commit) orders the ledger by commit: a writer resumed after a pause could not hide a late commit
        // behind an early id.
        row = await this.ledger.append(trx, leadership.term, instance);
      });
      if (hold > 0) this.logger.log(`fenced write committed: run=${run} term=${term} row=${row}`);
    } catch (error) {
      const refused = error instanceof NotLeaderError;
      const text = refused
        ? `ledger write of run=${run} refused, nothing written: ${error.message}`
        : `ledger write of run=${run} under term ${term ?? 'none'} failed` +
          `${row === undefined ? '' : ` after inserting row ${row}`}: ${errorMessage(error)}`;
      // Once per term and kind, so that a leadership that ended does not log at every run.
      const key = `${term}:${refused ? 'refused' : 'failed'}`;
      if (key === this.lastWarned) {
        this.logger.debug(text);
      } else {
        this.lastWarned = key;
        this.logger.warn(text);
      }
    }
  }
}
