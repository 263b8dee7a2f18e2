import { AsyncLocalStorage } from 'node:async_hooks';
import type { ElectionEvent, ElectorLogger } from './elector/election-state';
import type { LeaderOnlyMetadata } from './decorators/leader-only.decorator';
import type { LeadershipChange, LeadershipHookKind } from './decorators/leadership-hooks.decorator';
import { NotLeaderError } from './errors/not-leader.error';

/** The leadership a leader-only call runs under. */
export interface LeadershipContext {
  readonly election: string;
  readonly term: number;
  readonly signal: AbortSignal;
}

/** What the runtime needs to know about leadership, from the service. */
export interface LeadershipSource {
  readonly defaultElection: string;
  leadership(election: string): LeadershipContext | undefined;
  leaderId(election: string): string | null;
}

/** A discovered `@OnLeadershipGranted()` / `@OnLeadershipRevoked()` method. */
export interface LeadershipHook {
  readonly kind: LeadershipHookKind;
  readonly election: string;
  readonly instance: object;
  readonly methodName: string;
  readonly label: string;
}

type AnyFunction = (...args: unknown[]) => unknown;

// Instance -> the runtime of the Nest app that created it. Filled by the explorer; a WeakMap rather than a
// singleton so that several apps in one process (tests, workers) each keep their own leadership.
const runtimes = new WeakMap<object, LeaderOnlyRuntime>();

/** Binds a provider or controller instance to its app's runtime (explorer only). */
export function bindLeaderOnlyInstance(instance: object, runtime: LeaderOnlyRuntime): void {
  runtimes.set(instance, runtime);
}

/** The body of every `@LeaderOnly()` wrapper. An instance the explorer never saw fails closed. */
export function invokeLeaderOnly(
  metadata: LeaderOnlyMetadata,
  isAsync: boolean,
  fn: AnyFunction,
  thisArg: unknown,
  args: unknown[],
): unknown {
  const runtime = typeof thisArg === 'object' && thisArg !== null ? runtimes.get(thisArg) : undefined;
  if (!runtime) return refuse(metadata, isAsync, metadata.election ?? 'default', null);
  return runtime.invoke(metadata, isAsync, fn, thisArg, args);
}

function refuse(
  metadata: LeaderOnlyMetadata,
  isAsync: boolean,
  election: string,
  leaderId: string | null,
): unknown {
  if (metadata.onFollower === 'skip') return isAsync ? Promise.resolve(undefined) : undefined;
  const error = new NotLeaderError(election, leaderId);
  if (isAsync) return Promise.reject(error);
  throw error;
}

/**
 * Leader-only calls and leadership hooks of one Nest app: decides each call, gives it its leadership
 * context, counts running calls for the drain at shutdown, and runs hooks one at a time in order.
 */
export class LeaderOnlyRuntime {
  private readonly context = new AsyncLocalStorage<LeadershipContext>();
  private readonly hooks: LeadershipHook[] = [];
  private draining = false;
  private running = 0;
  private idle: (() => void)[] = [];
  private hookChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: LeadershipSource,
    private readonly logger: ElectorLogger,
  ) {}

  /** The leadership of the leader-only call in progress, or `undefined` outside one. */
  current(): LeadershipContext | undefined {
    return this.context.getStore();
  }

  invoke(
    metadata: LeaderOnlyMetadata,
    isAsync: boolean,
    fn: AnyFunction,
    thisArg: unknown,
    args: unknown[],
  ): unknown {
    const election = metadata.election ?? this.source.defaultElection;
    const leadership = this.draining ? undefined : this.source.leadership(election);
    if (!leadership) return refuse(metadata, isAsync, election, this.source.leaderId(election));
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

  addHook(hook: LeadershipHook): void {
    this.hooks.push(hook);
  }

  /** Queues the hooks that follow this transition behind those of earlier transitions. */
  onEvent(event: ElectionEvent): void {
    const kind: LeadershipHookKind | undefined =
      event.type === 'elected' ? 'granted' : event.type === 'revoked' ? 'revoked' : undefined;
    if (!kind) return;
    const change: LeadershipChange = { election: event.election, term: event.term };
    for (const hook of this.hooks) {
      if (hook.kind !== kind || hook.election !== event.election) continue;
      this.hookChain = this.hookChain.then(() => this.callHook(hook, change));
    }
  }

  /**
   * Stops starting leader-only calls, then waits for running calls and queued hooks up to `timeoutMs`.
   * Resolves `false` when some were still running at the deadline.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const settled = Promise.all([this.whenIdle(), this.hookChain]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = await Promise.race([settled, timeout]);
    clearTimeout(timer);
    if (!drained) {
      this.logger.warn(
        `${this.running} @LeaderOnly() call(s) still running after drainTimeoutMs (${timeoutMs} ms); ` +
          'releasing the lease anyway. Make long jobs watch currentLeadership().signal.',
      );
    }
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

  private async callHook(hook: LeadershipHook, change: LeadershipChange): Promise<void> {
    try {
      const method = (hook.instance as Record<string, unknown>)[hook.methodName] as AnyFunction;
      await method.call(hook.instance, change);
    } catch (error) {
      this.logger.error(
        `Leadership hook ${hook.label} failed for "${change.election}" (term ${change.term}): ` +
          `${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
