import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Observable, Subject } from 'rxjs';
import type { Clock } from './elector/clock';
import type { ElectionEvent, ElectorLogger } from './elector/election-state';
import type { LeaderElector } from './elector/leader-elector';
import {
  LEADER_ELECTION_CLOCK,
  LEADER_ELECTION_METRICS,
  LEADER_ELECTION_SETTINGS,
  LEADER_ELECTOR,
  RUNS_STORE,
  SHUTDOWN_HOOKS_CHECK_DELAY_MS,
} from './leader-election.constants';
import type {
  Leadership,
  LeadershipChange,
  LeadershipHookKind,
  LeaderOnlyMetadata,
  OnceLeadership,
} from './leader-election.interfaces';
import {
  drainTimeoutMessage,
  hookFailedMessage,
  hooksSkippedMessage,
  noShutdownHooksMessage,
} from './leader-election.messages';
import type { LeaderElectionMetrics } from './leader-election.metrics';
import { moduleLogger } from './leader-election.logger';
import { HandoverSignals } from './leader-election.signals';
import type { ResolvedLeaderElectionOptions } from './leader-election.options';
import { bindLeaderOnlyInstance, refuseLeaderOnly, type LeaderOnlyInvoker } from './leader-only.registry';
import type { OnceJob } from './once/once-job';
import { OnceScheduler } from './once/once-scheduler';
import type { RunsStore } from './store/runs-store';

/** A discovered `@OnLeadershipGranted()` / `@OnLeadershipRevoked()` method. */
export interface LeadershipHook {
  readonly kind: LeadershipHookKind;
  readonly election: string;
  readonly instance: object;
  readonly methodName: string;
  /** `Class.method`, for log lines. */
  readonly label: string;
}

type AnyFunction = (...args: unknown[]) => unknown;

/** A `once` run being started by the scheduler: lets exactly that method's wrapper run, once. */
interface Firing {
  readonly metadata: LeaderOnlyMetadata;
  readonly leadership: OnceLeadership;
  used: boolean;
}

/**
 * The runtime of one Nest app's leadership (as nestjs/schedule's orchestrator is for its jobs): starts
 * the elections at bootstrap and ends them at shutdown; decides each `@LeaderOnly()` call and gives it
 * its leadership; counts running calls for the drain; runs leadership hooks one at a time, in order.
 */
@Injectable()
export class LeaderElectionOrchestrator
  implements
    LeaderOnlyInvoker,
    OnModuleInit,
    OnApplicationBootstrap,
    OnModuleDestroy,
    BeforeApplicationShutdown,
    OnApplicationShutdown
{
  private readonly logger: ElectorLogger;
  private readonly context = new AsyncLocalStorage<Leadership>();
  private readonly firing = new AsyncLocalStorage<Firing>();
  /** Fires `@LeaderOnly({ once: true })` jobs on the leader (see `OnceScheduler`). */
  readonly once: OnceScheduler;
  private readonly events = new Subject<ElectionEvent>();
  private readonly hooks: LeadershipHook[] = [];
  /** The last leadership granted per election, so that its revoked hooks get its (aborted) signal. */
  private readonly granted = new Map<string, Leadership>();
  /** `election:term` of grants whose hooks all came too late (that leadership had ended already). */
  private readonly skippedGrants = new Set<string>();
  private hookChain: Promise<void> = Promise.resolve();
  /** Hook batches queued on `hookChain` and not finished yet. */
  private pendingHooks = 0;
  private draining = false;
  private running = 0;
  private idle: (() => void)[] = [];
  private stopped: Promise<void> | undefined;
  /** SIGTERM and SIGINT start the handover before Nest's shutdown sequence does. */
  private readonly signals = new HandoverSignals(() => this.onModuleDestroy());

  /** Every transition of every election, in order. Completes at shutdown. */
  readonly changes$: Observable<ElectionEvent> = this.events.asObservable();

  constructor(
    @Inject(LEADER_ELECTOR) private readonly elector: LeaderElector,
    @Inject(LEADER_ELECTION_SETTINGS) private readonly options: ResolvedLeaderElectionOptions,
    @Inject(RUNS_STORE) private readonly runsStore: RunsStore,
    @Inject(LEADER_ELECTION_CLOCK) clock: Clock,
    @Inject(LEADER_ELECTION_METRICS) metrics: LeaderElectionMetrics | undefined,
  ) {
    this.logger = moduleLogger(options.logger);
    this.once = new OnceScheduler({
      store: runsStore,
      clock,
      logger: this.logger,
      holder: () => this.elector.candidateId,
      createTable: options.createTable,
      historyLimit: options.historyLimit,
      metrics,
    });
    this.elector.onEvent((event) => {
      this.queueHooks(event);
      if (event.type === 'elected') this.startOnceJobs(event.election, event.term);
      this.events.next(event);
    });
  }

  /** True once shutdown began: no new leadership for this app. */
  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** The leadership this instance holds in `election` now, or `undefined`. */
  leadershipOf(election: string): Leadership | undefined {
    const current = this.elector.election(election)?.currentLeadership();
    return current && { election, ...current };
  }

  /** Settles once the leadership hooks queued so far have run (the testing module waits on it). */
  hooksSettled(): Promise<void> {
    return this.hookChain;
  }

  /** The leadership of the `@LeaderOnly()` call in progress, or `undefined` outside one. */
  current(): Leadership | undefined {
    return this.context.getStore();
  }

  /** Makes `instance`'s `@LeaderOnly()` methods run under this app's leadership. */
  bind(instance: object): void {
    bindLeaderOnlyInstance(instance, this);
  }

  addHook(hook: LeadershipHook): void {
    this.hooks.push(hook);
  }

  /**
   * Registers a `once` job: the scheduler calls `instance[methodName]` (through every decorator stacked on
   * it) with a firing that only that method's `@LeaderOnly()` wrapper accepts.
   */
  addOnceJob(
    job: Omit<OnceJob, 'run'>,
    metadata: LeaderOnlyMetadata,
    instance: object,
    methodName: string,
  ): void {
    this.once.add({
      ...job,
      run: (leadership) => {
        const firing: Firing = { metadata, leadership, used: false };
        return this.firing.run(firing, async () => {
          const method = (instance as Record<string, unknown>)[methodName] as AnyFunction;
          return method.call(instance);
        });
      },
    });
  }

  /** Runs one `@LeaderOnly()` call: on the leader inside its leadership context, else refused. */
  invoke(
    metadata: LeaderOnlyMetadata,
    isAsync: boolean,
    fn: AnyFunction,
    thisArg: object,
    args: unknown[],
  ): unknown {
    const election = metadata.election ?? this.options.elections[0];
    if (metadata.once) {
      // Only the once scheduler runs these; the local scheduler's ticks (and direct calls) do nothing.
      const firing = this.firing.getStore();
      // Not refused while draining: its occurrence is claimed already, and the drain waits for it.
      if (!firing || firing.metadata !== metadata || firing.used) {
        return isAsync ? Promise.resolve(undefined) : undefined;
      }
      firing.used = true;
      return this.runAs(firing.leadership, fn, thisArg, args);
    }
    const leadership = this.draining ? undefined : this.leadershipOf(election);
    if (!leadership) {
      const leaderId = this.elector.election(election)?.getState().leaderId ?? null;
      return refuseLeaderOnly(metadata, isAsync, election, leaderId);
    }
    return this.runAs(leadership, fn, thisArg, args);
  }

  /** Calls `fn` inside `leadership`'s context, counted for the drain. */
  private runAs(leadership: Leadership, fn: AnyFunction, thisArg: object, args: unknown[]): unknown {
    this.running++;
    let result: unknown;
    try {
      result = this.context.run(leadership, () => fn.apply(thisArg, args));
    } catch (error) {
      this.finished();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          this.finished();
          return value;
        },
        (error: unknown) => {
          this.finished();
          throw error;
        },
      );
    }
    this.finished();
    return result;
  }

  /**
   * @internal Opens the lease connection and checks the table while the rest of the app initialises, so
   * that campaigning at bootstrap starts on a warm connection. Not awaited: the app's start never waits
   * for the database here, and a failure is retried and reported by the elections' first step.
   */
  onModuleInit(): void {
    this.elector.warmUp();
  }

  /** @internal Starts campaigning in every election. */
  onApplicationBootstrap(): void {
    this.elector.start();
    this.signals.start();
    this.warnWithoutShutdownHooks();
  }

  /**
   * @internal The earliest shutdown hook Nest calls (`app.close()` runs every module's `onModuleDestroy`
   * before any `beforeApplicationShutdown`): the handover starts here, and is not awaited, so that it
   * neither waits for other modules' shutdown work nor holds it up. `beforeApplicationShutdown` awaits it.
   * On SIGTERM and SIGINT it starts sooner, at the signal (`HandoverSignals`).
   */
  onModuleDestroy(): void {
    this.stopped ??= this.shutdown();
    // Awaited (and its failure reported) by beforeApplicationShutdown; never an unhandled rejection meanwhile.
    this.stopped.catch(() => undefined);
  }

  /**
   * @internal Ends leadership for the application (signals aborted, no new leader-only calls), waits for
   * running calls and hooks up to `drainTimeoutMs` while still holding the leases, then releases them.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped ??= this.shutdown();
    await this.stopped;
  }

  /** @internal Safety net when only `onApplicationShutdown` runs. */
  async onApplicationShutdown(): Promise<void> {
    await this.beforeApplicationShutdown();
  }

  private async shutdown(): Promise<void> {
    this.signals.stop();
    this.once.stop();
    this.elector.beginShutdown();
    this.draining = true;
    // With nothing to wait for, the release goes out in this same turn (on a signal: before Nest's own
    // listener runs), not after the other shutdown work that awaits would let in.
    if (this.running > 0 || this.pendingHooks > 0 || !this.once.idle) {
      await this.drain(this.options.drainTimeoutMs);
    }
    await this.elector.stop();
    await this.runsStore.close().catch(() => undefined);
    this.events.complete();
  }

  /** A grant: the election's `once` jobs start firing under it. */
  private startOnceJobs(election: string, term: number): void {
    const leadership = this.leadershipOf(election);
    if (leadership?.term === term && !this.draining) this.once.granted(leadership);
  }

  /**
   * Waits for running calls and queued hooks up to `timeoutMs` (`draining` already refuses new calls).
   * Resolves `false` when some were still running at the deadline.
   */
  private async drain(timeoutMs: number): Promise<boolean> {
    const settled = Promise.all([this.once.whenIdle(), this.hookChain])
      .then(() => this.whenIdle())
      .then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = await Promise.race([settled, timeout]);
    clearTimeout(timer);
    if (!drained) this.logger.warn(drainTimeoutMessage(this.running, timeoutMs));
    return drained;
  }

  private whenIdle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private finished(): void {
    this.running--;
    if (this.running === 0) {
      const waiters = this.idle;
      this.idle = [];
      waiters.forEach((resolve) => resolve());
    }
  }

  /** Queues the hooks that follow this transition behind those of earlier transitions. */
  private queueHooks(event: ElectionEvent): void {
    if (event.type !== 'elected' && event.type !== 'revoked') return;
    const kind: LeadershipHookKind = event.type === 'elected' ? 'granted' : 'revoked';
    const change = this.changeFor(event);
    const hooks = this.hooks.filter((hook) => hook.kind === kind && hook.election === event.election);
    if (hooks.length === 0) return;
    const key = `${event.election}:${event.term}`;
    this.pendingHooks++;
    this.hookChain = this.hookChain.then(async () => {
      if (kind === 'granted' && change.signal.aborted) {
        // That leadership ended while earlier hooks ran: starting work for it now would outlive it.
        this.skippedGrants.add(key);
        this.logger.log(hooksSkippedMessage(event.election, event.term));
        return;
      }
      if (kind === 'revoked' && this.skippedGrants.delete(key)) return; // nothing was started for it
      for (const hook of hooks) await this.callHook(hook, change);
    });
    const done = () => {
      this.pendingHooks--;
    };
    void this.hookChain.then(done, done);
  }

  private changeFor(event: ElectionEvent): LeadershipChange {
    if (event.type === 'elected') {
      const leadership = this.leadershipOf(event.election);
      const change =
        leadership?.term === event.term
          ? leadership
          : { election: event.election, term: event.term, signal: AbortSignal.abort() };
      this.granted.set(event.election, change);
      return change;
    }
    const granted = this.granted.get(event.election);
    return granted?.term === event.term
      ? granted
      : { election: event.election, term: event.term, signal: AbortSignal.abort() };
  }

  private async callHook(hook: LeadershipHook, change: LeadershipChange): Promise<void> {
    try {
      const method = (hook.instance as Record<string, unknown>)[hook.methodName] as AnyFunction;
      await method.call(hook.instance, change);
    } catch (error) {
      this.logger.error(hookFailedMessage(hook.label, change.election, change.term, error));
    }
  }

  /**
   * Without `app.enableShutdownHooks()`, SIGTERM kills the process without releasing the lease: a
   * standby then waits a whole lease instead of milliseconds. Checked a moment after bootstrap, since
   * `NestFactory.createApplicationContext()` bootstraps before the caller can enable them. Not under
   * test runners (`NODE_ENV=test`), where apps are closed by the test itself.
   */
  private warnWithoutShutdownHooks(): void {
    if (process.env.NODE_ENV === 'test') return;
    const timer = setTimeout(() => {
      if (!this.stopping && process.listenerCount('SIGTERM') === 0) {
        this.logger.warn(noShutdownHooksMessage(this.options.leaseDurationMs));
      }
    }, SHUTDOWN_HOOKS_CHECK_DELAY_MS);
    timer.unref();
  }
}
