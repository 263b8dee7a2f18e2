import type { Clock, TimerHandle } from '../elector/clock';
import type { ElectorLogger } from '../elector/election-state';
import type { Leadership } from '../leader-election.interfaces';
import {
  onceClaimFailedMessage,
  onceFinishFailedMessage,
  onceRecoveredMessage,
  onceStartFailedMessage,
  oncePruneFailedMessage,
} from '../leader-election.messages';
import type { RunFence, RunRow, RunsStore } from '../store/runs-store';
import { DatabaseClock } from './database-clock';
import { occurrencesBetween } from './occurrence-schedule';
import type { OnceJob } from './once-job';
import type { CountedRunOutcome, OnceMetrics } from './once-metrics';

/** Resync the database clock at most this often while leading with once-jobs. */
export const DB_CLOCK_RESYNC_MS = 60_000;
/** After a grant, pruning waits this long (off the hot path), then runs hourly. */
export const PRUNE_DELAY_MS = 5_000;
export const PRUNE_EVERY_MS = 3_600_000;
/** Claims sent again after a refusal (each after a resync of the database clock). */
const CLAIM_RETRIES = 2;
/** Retry delay when the grant's read fails. */
const START_RETRY_MS = 1_000;
/** At most this many missed occurrences are handled per job and grant (the newest); older ones get no row. */
const MAX_RECORDED_MISSED = 1_000;

/** What the scheduler needs from its surroundings. */
export interface OnceSchedulerDeps {
  readonly store: RunsStore;
  readonly clock: Clock;
  readonly logger: ElectorLogger;
  readonly holder: () => string;
  readonly createTable: boolean;
  readonly historyLimit: number;
  /** Where given, runs, missed occurrences and successes are counted. */
  readonly metrics?: OnceMetrics;
}

interface Session {
  readonly fence: RunFence;
  readonly signal: AbortSignal;
  readonly dbClock: DatabaseClock;
}

interface JobState {
  /** The run in progress of this job, if any. */
  running: boolean;
  /** The last runs-table statement of this job failed (logged once, until one works again). */
  failing: boolean;
}

/**
 * Fires `once` jobs on the leader, from its own timer on the database's clock: at each grant, one read
 * learns the clock, the latest recorded occurrence of each job and the runs a gone leader left behind;
 * then each occurrence is claimed (one fenced INSERT) before the method runs, and its outcome written
 * after (one UPDATE). Followers send nothing.
 */
export class OnceScheduler {
  private readonly jobs: OnceJob[] = [];
  private readonly states = new Map<string, JobState>();
  private readonly timers = new Set<{ handle: TimerHandle; wake: () => void }>();
  private schemaReady: Promise<void> | undefined;
  private stopped = false;
  /** Occurrences between the start of their claim and the end of their run. */
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: OnceSchedulerDeps) {}

  add(job: OnceJob): void {
    this.jobs.push(job);
    this.states.set(job.job, { running: false, failing: false });
  }

  /** The registered jobs. */
  get all(): readonly OnceJob[] {
    return this.jobs;
  }

  /** Starts firing the election's jobs for this leadership (until its signal aborts). */
  granted(leadership: Leadership): void {
    const jobs = this.jobs.filter((job) => job.election === leadership.election);
    if (jobs.length === 0 || this.stopped) return;
    const session: Session = {
      fence: { election: leadership.election, holder: this.deps.holder(), term: leadership.term },
      signal: leadership.signal,
      dbClock: new DatabaseClock(this.deps.clock, () => this.deps.store.dbNow()),
    };
    void this.start(session, jobs);
  }

  /** No occurrence starts after this; runs in progress finish (the orchestrator drains them). */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) {
      this.deps.clock.clearTimeout(timer.handle);
      timer.wake();
    }
    this.timers.clear();
  }

  /** True when no occurrence is being claimed or run. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /**
   * Resolves once no occurrence is being claimed or run: the drain waits for it, so that a run claimed
   * just before shutdown still runs, and ends, before the lease is released.
   */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private active(session: Session): boolean {
    return !this.stopped && !session.signal.aborted;
  }

  private async start(session: Session, jobs: OnceJob[]): Promise<void> {
    const { store } = this.deps;
    let state;
    let logged = false;
    for (;;) {
      try {
        if (this.deps.createTable) {
          this.schemaReady ??= store.ensureSchema().catch((error: unknown) => {
            this.schemaReady = undefined;
            throw error;
          });
          await this.schemaReady;
        }
        const sentAt = this.deps.clock.now();
        state = await store.readState(
          jobs.map((job) => job.job),
          session.fence.term,
        );
        session.dbClock.learn(state.dbNow, sentAt, this.deps.clock.now());
        break;
      } catch (error) {
        if (!this.active(session)) return;
        if (!logged)
          this.deps.logger.error(onceStartFailedMessage(session.fence.election, session.fence.term, error));
        logged = true;
        await this.sleep(session, START_RETRY_MS);
        if (!this.active(session)) return;
      }
    }
    if (!this.active(session)) return;
    const unfinished = jobs.flatMap((job) => state.jobs.get(job.job)?.unfinished ?? []);
    if (unfinished.length > 0) {
      try {
        await store.abandon(session.fence, unfinished);
        for (const row of unfinished) this.count(session, row.job, 'abandoned');
      } catch (error) {
        this.deps.logger.error(onceStartFailedMessage(session.fence.election, session.fence.term, error));
      }
    }
    this.schedulePrune(session, jobs, PRUNE_DELAY_MS);
    for (const job of jobs) {
      const recorded = state.jobs.get(job.job);
      void this.runJob(session, job, recorded?.latest, recorded?.unfinished ?? []);
    }
  }

  /** Recovery, catch-up, then the steady loop of one job under one leadership. */
  private async runJob(
    session: Session,
    job: OnceJob,
    latest: number | undefined,
    unfinished: readonly RunRow[],
  ): Promise<void> {
    const now = session.dbClock.now();
    if (job.recover) {
      for (const row of unfinished) {
        if (row.occurrence < now - job.catchUpWindowMs) continue;
        await this.fire(session, job, row.occurrence, row.attempt + 1, true);
      }
    }
    let cursor = Math.max(now, latest ?? now);
    if (latest !== undefined) {
      const from = Math.max(latest, now - job.catchUpWindowMs);
      const missed = occurrencesBetween(job.schedule, from, now, MAX_RECORDED_MISSED);
      const runCount =
        job.missed === 'skip' ? 0 : job.missed === 'latest' ? Math.min(1, missed.length) : job.maxCatchUp;
      const toRun = missed.slice(Math.max(0, missed.length - runCount));
      const toRecord = missed.slice(0, missed.length - toRun.length);
      if (toRecord.length > 0) {
        this.deps.metrics?.missed(session.fence.election, job.job, toRecord.length);
        try {
          await this.deps.store.recordMissed(session.fence, job.job, toRecord);
          this.worked(job);
        } catch (error) {
          this.failed(job, onceClaimFailedMessage(job.label, toRecord[0], error));
        }
      }
      for (const occurrence of toRun) {
        if (!this.active(session)) return;
        await this.fire(session, job, occurrence, 1, true);
      }
      if (missed.length > 0) cursor = Math.max(cursor, missed[missed.length - 1]);
    }
    while (this.active(session)) {
      const due = job.schedule.next(cursor);
      if (session.dbClock.ageMs >= DB_CLOCK_RESYNC_MS) await this.resync(session);
      const wait = due - session.dbClock.now();
      if (wait > 0) {
        await this.sleep(session, wait);
        continue; // re-evaluated: the clock may have been resynced meanwhile
      }
      cursor = due;
      await this.fire(session, job, due, 1, false);
    }
  }

  /**
   * One occurrence: `skipped-overlap` when the job's previous run is still going, else claim and run.
   * `awaitRun` (catch-up, recovery) waits for the method, so that those occurrences run in order.
   */
  private async fire(
    session: Session,
    job: OnceJob,
    occurrence: number,
    attempt: number,
    awaitRun: boolean,
  ): Promise<void> {
    if (!this.active(session)) return;
    this.inFlight++;
    let running: Promise<void> | undefined;
    try {
      running = (await this.claimAndStart(session, job, occurrence, attempt, awaitRun))?.run;
    } finally {
      if (running) void running.finally(() => this.settled());
      else this.settled();
    }
    if (awaitRun) await running;
  }

  private settled(): void {
    if (--this.inFlight > 0) return;
    this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** Claims the occurrence; resolves the started run (boxed: a promise would be flattened), or `undefined`. */
  private async claimAndStart(
    session: Session,
    job: OnceJob,
    occurrence: number,
    attempt: number,
    awaitRun: boolean,
  ): Promise<{ run: Promise<void> } | undefined> {
    const state = this.states.get(job.job)!;
    const { store } = this.deps;
    try {
      if (state.running && !awaitRun) {
        await store.claim(
          session.fence,
          { job: job.job, occurrence, attempt, outcome: 'skipped-overlap' },
          false,
        );
        this.count(session, job.job, 'skipped-overlap');
        return;
      }
      const row = { job: job.job, occurrence, attempt, outcome: 'running' as const };
      let result = await store.claim(session.fence, row, true);
      // Refused: this estimate of the database's clock ran early, or the lease is no longer ours. Resync and
      // claim again (even when the resync shows the occurrence due: the claim may have executed a moment
      // before it was); a lost lease refuses again and the elector steps down meanwhile.
      for (let retry = 0; result === 'refused' && retry < CLAIM_RETRIES && this.active(session); retry++) {
        const dbNow = await this.resync(session);
        if (dbNow === undefined) break;
        if (dbNow < occurrence) await this.sleep(session, occurrence - dbNow);
        if (this.active(session)) result = await store.claim(session.fence, row, true);
      }
      this.worked(job);
      if (result !== 'claimed') return undefined;
    } catch (error) {
      this.failed(job, onceClaimFailedMessage(job.label, occurrence, error));
      return undefined;
    }
    // Claimed: it runs even if shutdown began meanwhile (the drain waits for it; the lease is still held).
    state.running = true;
    const run = this.execute(session, job, occurrence, attempt).finally(() => {
      state.running = false;
    });
    return { run };
  }

  private async execute(session: Session, job: OnceJob, occurrence: number, attempt: number): Promise<void> {
    let outcome: 'succeeded' | 'failed' = 'succeeded';
    let error: string | null = null;
    try {
      await job.run({
        election: session.fence.election,
        term: session.fence.term,
        signal: session.signal,
        occurrence: new Date(occurrence),
      });
    } catch (thrown) {
      outcome = 'failed';
      error = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
    }
    this.count(session, job.job, outcome);
    try {
      await this.deps.store.finish({ job: job.job, occurrence, attempt }, outcome, error);
      this.worked(job);
    } catch (thrown) {
      this.failed(job, onceFinishFailedMessage(job.label, occurrence, thrown));
    }
  }

  private count(session: Session, job: string, outcome: CountedRunOutcome): void {
    this.deps.metrics?.run(session.fence.election, job, outcome, this.deps.clock.wallNow());
  }

  /** Logs a runs-table failure of `job` once, until a statement of it works again. */
  private failed(job: OnceJob, message: string): void {
    const state = this.states.get(job.job)!;
    if (state.failing) return;
    state.failing = true;
    this.deps.logger.error(message);
  }

  private worked(job: OnceJob): void {
    const state = this.states.get(job.job)!;
    if (!state.failing) return;
    state.failing = false;
    this.deps.logger.log(onceRecoveredMessage(job.label));
  }

  private async resync(session: Session): Promise<number | undefined> {
    try {
      return await session.dbClock.sync();
    } catch {
      return undefined; // the next claim tells whether the lease is still ours
    }
  }

  private schedulePrune(session: Session, jobs: readonly OnceJob[], delayMs: number): void {
    void this.sleep(session, delayMs).then(async () => {
      if (!this.active(session)) return;
      for (const job of jobs) {
        try {
          await this.deps.store.prune(job.job, this.deps.historyLimit);
        } catch (error) {
          this.deps.logger.warn(oncePruneFailedMessage(job.label, error));
        }
      }
      this.schedulePrune(session, jobs, PRUNE_EVERY_MS);
    });
  }

  /** Waits `ms` on the injected clock; ends early when the leadership ends or the scheduler stops. */
  private sleep(session: Session, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = {
        handle: undefined as TimerHandle,
        wake: () => {
          this.timers.delete(timer);
          session.signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.deps.clock.clearTimeout(timer.handle);
        timer.wake();
      };
      timer.handle = this.deps.clock.setTimeout(() => timer.wake(), ms);
      this.timers.add(timer);
      session.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
