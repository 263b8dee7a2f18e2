import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { Observable, Subscription } from 'rxjs';
import type { Election } from './elector/election';
import type { ElectionEvent, ElectionState } from './elector/election-state';
import type { LeaderElector } from './elector/leader-elector';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import { NotLeaderError } from './errors/not-leader.error';
import {
  LEADER_ELECTION_SETTINGS,
  LEADER_ELECTOR,
  LEASE_STORE,
  RUNS_STORE,
  TERMS_STORE,
} from './leader-election.constants';
import type {
  ResignOptions,
  FencedDatabase,
  FencedTransaction,
  JobRun,
  JobSummary,
  Leadership,
  LeadershipTerm,
  TransactionOf,
} from './leader-election.interfaces';
import {
  assertLeaderNeedsTransactionMessage,
  fenceConnectionLostMessage,
  fenceGaleraAbortMessage,
  fenceLostMessage,
  fenceTableInvisibleMessage,
  notLeaderSignalReason,
  unknownBalancedGroupMessage,
  unknownElectionMessage,
  unknownJobMessage,
  waitAbortedMessage,
  waitAfterShutdownMessage,
} from './leader-election.messages';
import {
  publicSettings,
  type LeaderElectionSettings,
  type ResolvedLeaderElectionOptions,
} from './leader-election.options';
import { LeaderElectionOrchestrator } from './leader-election.orchestrator';
import { LEASE_HOLDER_MAX_LENGTH } from './store/lease-table';
import {
  isConnectionLost,
  isGaleraAbort,
  knownGalera,
  isLeaseTableInvisible,
  limitIdleTransaction,
  lockLeaseRow,
} from './store/lease-fence';
import type { LeaseStore } from './store/lease-store';
import type { RunsStore } from './store/runs-store';
import { TermRecordingLeaseStore } from './store/term-recording-lease-store';
import type { TermsStore } from './store/terms-store';

export type { Leadership } from './leader-election.interfaces';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the fence runs on any user database type
type AnyKysely = Kysely<any>;

/**
 * Leadership of this instance, per election. Campaigning starts at application bootstrap; leases are
 * released at shutdown (enable `app.enableShutdownHooks()` so that SIGTERM triggers it).
 *
 * `election` arguments default to the first configured election (`'default'` unless configured).
 */
@Injectable()
export class LeaderElectionService {
  private readonly publicSettings: LeaderElectionSettings;

  /** Every transition of every election: elected, revoked, leader-changed, health-changed. */
  readonly changes$: Observable<ElectionEvent>;

  constructor(
    @Inject(LEADER_ELECTION_SETTINGS) private readonly options: ResolvedLeaderElectionOptions,
    @Inject(LEADER_ELECTOR) private readonly elector: LeaderElector,
    private readonly orchestrator: LeaderElectionOrchestrator,
    @Inject(RUNS_STORE) private readonly runsStore: RunsStore,
    @Inject(TERMS_STORE) private readonly termsStore: TermsStore,
    @Inject(LEASE_STORE) private readonly leaseStore: LeaseStore,
  ) {
    this.publicSettings = publicSettings(options);
    this.changes$ = orchestrator.changes$;
  }

  /** This instance's candidate id (unique per process start). */
  get candidateId(): string {
    return this.elector.candidateId;
  }

  /** The elections this instance takes part in. */
  get elections(): readonly string[] {
    return this.options.elections;
  }

  /**
   * The settings in effect (timing, table, elections, standby mode; frozen), for integrations such as the
   * health indicator. Never holds the connection options or a password.
   */
  get settings(): LeaderElectionSettings {
    return this.publicSettings;
  }

  /**
   * True while this instance leads the election and its lease is still valid by the monotonic clock.
   * Cheap: evaluated in memory at every call, no database round trip.
   */
  isLeader(election?: string): boolean {
    return this.election(election).isLeader();
  }

  /**
   * The elections of a balanced group that this instance leads right now, in shard order (evaluated in
   * memory, like `isLeader()`). `prefix` may be left out when one group is configured.
   *
   * @example
   * ```ts
   * for (const shard of this.leaderElection.ledShards('shard-')) await this.syncShard(shard);
   * ```
   */
  ledShards(prefix?: string): string[] {
    const prefixes = this.options.balanced.map((group) => group.prefix);
    const key = prefix ?? (prefixes.length === 1 ? prefixes[0] : undefined);
    const group = key === undefined ? undefined : this.elector.balancedGroup(key);
    if (!group) throw new LeaderElectionConfigError(unknownBalancedGroupMessage(prefix, prefixes));
    return group.led();
  }

  /** A snapshot of one election as this instance sees it. */
  getState(election?: string): ElectionState {
    return this.election(election).getState();
  }

  /** Snapshots of every configured election. */
  getStates(): ElectionState[] {
    return this.options.elections.map((name) => this.election(name).getState());
  }

  /**
   * The leadership this instance holds in the election right now (term and abort signal), or `undefined`
   * when it is not leader. Unlike `currentLeadership()`, it does not depend on the call it is made from.
   */
  leadershipOf(election?: string): Leadership | undefined {
    return this.orchestrator.leadershipOf(this.election(election).name);
  }

  /**
   * Inside a `@LeaderOnly()` call: the leadership it runs under (election, term as fencing token, and a
   * signal aborted when that leadership ends). `undefined` outside one.
   *
   * @example
   * ```ts
   * @Interval(1000)
   * @LeaderOnly()
   * async sync() {
   *   const { term, signal } = this.leaderElection.currentLeadership()!;
   *   for (const batch of batches) {
   *     if (signal.aborted) return; // leadership ended: stop at once
   *     await this.push(batch, { fencingToken: term });
   *   }
   * }
   * ```
   */
  currentLeadership(): Leadership | undefined {
    return this.orchestrator.current();
  }

  /**
   * An `AbortSignal` aborted when this instance's current leadership ends; already aborted when it is
   * not leader.
   */
  leadershipSignal(election?: string): AbortSignal {
    const current = this.election(election).currentLeadership();
    return (
      current?.signal ?? AbortSignal.abort(new Error(notLeaderSignalReason(this.election(election).name)))
    );
  }

  /**
   * Resolves once this instance is leader (at once when it already is). Rejects with the signal's reason
   * when `signal` aborts first.
   *
   * @example
   * const { term, signal } = await leaderElection.waitForLeadership('billing', { signal: shutdown });
   */
  waitForLeadership(election?: string, options: { signal?: AbortSignal } = {}): Promise<Leadership> {
    let target: Election;
    try {
      target = this.election(election);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    if (this.orchestrator.stopping) return Promise.reject(new Error(waitAfterShutdownMessage(target.name)));
    return new Promise<Leadership>((resolve, reject) => {
      const subscription = new Subscription();
      const cleanup = () => {
        subscription.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
      };
      const settle = (): boolean => {
        const leadership = this.leadershipOf(target.name);
        if (!leadership) return false;
        cleanup();
        resolve(leadership);
        return true;
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error(waitAbortedMessage(target.name)));
      };
      if (signal?.aborted) return onAbort();
      subscription.add(
        this.changes$.subscribe({
          next: (event) => {
            if (event.election === target.name && event.type === 'elected') settle();
          },
          complete: () => {
            cleanup();
            reject(new Error(waitAfterShutdownMessage(target.name)));
          },
        }),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      settle();
    });
  }

  /**
   * Gives up leadership now and releases the lease so that another instance takes over at its next read.
   * This instance does not campaign again for one lease duration. Resolves `false` when it was not leader.
   *
   * With `{ to: candidateId }` the lease is handed to that candidate: it takes the next term within
   * milliseconds while the others hold off for `handoverWindowMs`; after that window anybody may.
   */
  async resign(election?: string, options: ResignOptions = {}): Promise<boolean> {
    const { to } = options;
    if (
      to !== undefined &&
      (typeof to !== 'string' || to.length === 0 || to.length > LEASE_HOLDER_MAX_LENGTH)
    ) {
      throw new LeaderElectionConfigError(
        `resign(election, { to }) needs a candidate id of 1 to ${LEASE_HOLDER_MAX_LENGTH} characters (see ` +
          `candidateId of the target, or the holder in \`npx nestjs-leader-election status\`); got ${JSON.stringify(to)}.`,
      );
    }
    return this.election(election).resign({ to });
  }

  /**
   * Fences the caller's transaction: checks on the database, with a shared lock on the lease row, that
   * this instance still holds its current term. Until the transaction ends, no takeover can commit, so
   * the transaction's writes commit only under this term. Throws `NotLeaderError` (roll back) otherwise.
   * The Kysely must reach the database that holds the lease table.
   *
   * @example
   * ```ts
   * await db.transaction().execute(async (trx) => {
   *   const { term } = await leaderElection.assertLeader(trx);
   *   await trx.insertInto('ledger').values({ term, amount }).execute();
   * });
   * ```
   */
  async assertLeader(trx: FencedTransaction, election?: string): Promise<Leadership> {
    const target = this.election(election);
    if (trx?.isTransaction !== true) {
      throw new LeaderElectionConfigError(assertLeaderNeedsTransactionMessage());
    }
    const leadership = this.leadershipOf(target.name);
    if (!leadership) throw new NotLeaderError(target.name, target.getState().leaderId);
    let held: boolean;
    try {
      held = await lockLeaseRow(
        trx as unknown as AnyKysely,
        this.options.tableName,
        target.name,
        this.candidateId,
        leadership.term,
      );
    } catch (error) {
      if (isGaleraAbort(error) && knownGalera(trx as unknown as AnyKysely)) {
        throw new NotLeaderError(target.name, null, fenceGaleraAbortMessage(target.name, leadership.term), {
          cause: error,
        });
      }
      if (isLeaseTableInvisible(error)) {
        throw new LeaderElectionConfigError(
          fenceTableInvisibleMessage(this.options.tableName, (error as Error).message),
        );
      }
      throw error;
    }
    if (!held) {
      throw new NotLeaderError(target.name, null, fenceLostMessage(target.name, leadership.term));
    }
    return leadership;
  }

  /**
   * Runs `work` in a transaction that commits only under this instance's current leadership: opens the
   * transaction on `db`, calls `assertLeader`, runs `work` with the term (the fencing token) and the
   * leadership signal, and commits. Throws `NotLeaderError` (rolled back) when not leader. On MariaDB the
   * transaction is also ended by the server if it sits idle longer than the lease (a paused process),
   * so that it cannot hold a takeover back.
   *
   * @example
   * ```ts
   * await leaderElection.runFenced(db, async (trx, { term }) => {
   *   await trx.insertInto('ledger').values({ term, at: new Date() }).execute();
   * });
   * ```
   */
  async runFenced<D extends FencedDatabase, T>(
    db: D,
    work: (trx: TransactionOf<D>, leadership: Leadership) => Promise<T>,
    election?: string,
  ): Promise<T> {
    const target = this.election(election);
    if (!target.isLeader()) throw new NotLeaderError(target.name, target.getState().leaderId);
    const kysely = db as unknown as AnyKysely;
    let term: number | undefined;
    try {
      return await kysely.connection().execute(async (conn) => {
        const restore = await limitIdleTransaction(conn, this.options.leaseDurationMs / 1000, kysely);
        try {
          return await conn.transaction().execute(async (trx) => {
            const leadership = await this.assertLeader(trx, target.name);
            term = leadership.term;
            return work(trx as TransactionOf<D>, leadership);
          });
        } finally {
          // The server may have closed the connection (idle timeout); nothing to restore then.
          await restore().catch(() => undefined);
        }
      });
    } catch (error) {
      // A paused or cut-off leader: the server closed the fenced transaction's connection (rolling it
      // back) and another instance may lead by now. Say so, with the driver error as the cause.
      // On Galera, certification or the node's leaving the primary component ended the transaction at a
      // later statement or at commit: nothing of it was applied.
      if (
        term !== undefined &&
        !(error instanceof NotLeaderError) &&
        isGaleraAbort(error) &&
        knownGalera(kysely)
      ) {
        throw new NotLeaderError(target.name, null, fenceGaleraAbortMessage(target.name, term), {
          cause: error,
        });
      }
      if (term !== undefined && isConnectionLost(error) && this.leadershipOf(target.name)?.term !== term) {
        throw new NotLeaderError(
          target.name,
          target.getState().leaderId,
          fenceConnectionLostMessage(target.name, term),
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  /**
   * The recorded occurrences of a `@LeaderOnly({ once: true })` job, newest first (one row per attempt):
   * what ran, when, under which term and candidate, and how it ended. Reads the runs table.
   *
   * @example
   * const [last] = await leaderElection.getRuns('ReportService.hourly', { limit: 1 });
   */
  async getRuns(job: string, options: { limit?: number } = {}): Promise<JobRun[]> {
    const known = this.orchestrator.once.all.map((entry) => entry.job);
    if (!known.includes(job)) throw new LeaderElectionConfigError(unknownJobMessage(job, known));
    const rows = await this.runsStore.list(job, options.limit ?? 100);
    return rows.map((row) => ({
      job: row.job,
      occurrence: new Date(row.occurrence),
      attempt: row.attempt,
      term: row.term,
      candidateId: row.holder,
      startedAt: row.startedAt === null ? null : new Date(row.startedAt),
      finishedAt: row.finishedAt === null ? null : new Date(row.finishedAt),
      outcome: row.outcome,
      error: row.error,
    }));
  }

  /**
   * Every `@LeaderOnly({ once: true })` job of this app: its last recorded occurrence and outcome, and its
   * next occurrence on the database's clock. One read of the runs table.
   */
  async getJobs(): Promise<JobSummary[]> {
    const jobs = this.orchestrator.once.all;
    if (jobs.length === 0) return [];
    const { dbNow, latest } = await this.runsStore.summary(jobs.map((job) => job.job));
    return jobs.map((job) => {
      const last = latest.get(job.job);
      return {
        job: job.job,
        election: job.election,
        schedule: job.schedule.description,
        lastOccurrence: last ? new Date(last.occurrence) : null,
        lastOutcome: last?.outcome ?? null,
        nextOccurrence: new Date(job.schedule.next(Math.max(dbNow, last?.occurrence ?? dbNow))),
      };
    });
  }

  /**
   * The leadership history of `election` (default: the first configured), newest term first: who held
   * each term, when it was acquired and ended, and why it ended (`released`, `resigned`, `expired`,
   * `handed-over`; `null` while open). One read of the terms table; `limit` defaults to 100. Terms this
   * process acquired or released are written before the read.
   *
   * @example
   * const [current, previous] = await leaderElection.getHistory('jobs', { limit: 2 });
   */
  async getHistory(election?: string, options: { limit?: number } = {}): Promise<LeadershipTerm[]> {
    const name = this.election(election).name;
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new LeaderElectionConfigError(
        `getHistory() option "limit" must be a whole number, 1 or more (got ${String(limit)}).`,
      );
    }
    if (this.leaseStore instanceof TermRecordingLeaseStore) await this.leaseStore.flush();
    const rows = await this.termsStore.list(name, limit);
    return rows.map((row) => ({
      election: row.election,
      term: row.term,
      candidateId: row.holder,
      acquiredAt: new Date(row.acquiredAt),
      endedAt: row.endedAt === null ? null : new Date(row.endedAt),
      endReason: row.endReason,
    }));
  }

  private election(name: string | undefined): Election {
    const key = name ?? this.options.elections[0];
    const election = this.elector.election(key);
    if (!election) {
      throw new LeaderElectionConfigError(unknownElectionMessage(String(key), this.options.elections));
    }
    return election;
  }
}
