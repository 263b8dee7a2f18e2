import {
  DEFAULT_CATCH_UP_WINDOW_MS,
  DEFAULT_MAX_CATCH_UP,
  DEFAULT_MISSED_POLICY,
  LEADER_ONLY_METADATA,
} from '../leader-election.constants';
import {
  invalidLeaderOnlyOptionsMessage,
  invalidOnceOptionMessage,
  leaderOnlyNotMethodMessage,
  onceOptionWithoutOnceMessage,
} from '../leader-election.messages';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import type {
  LeaderOnlyMetadata,
  MissedPolicy,
  OnceMetadata,
  OnFollower,
} from '../leader-election.interfaces';
import { RUN_JOB_MAX_LENGTH } from '../store/runs-table';
import { invokeLeaderOnly } from '../leader-only.registry';
import { copyMethodMetadata } from '../utils/copy-method-metadata';

/** Options of `@LeaderOnly()`. */
export interface LeaderOnlyOptions {
  /** The election whose leader runs the method. Default: the module's first election. */
  election?: string;
  /**
   * `skip` (default): return without calling the method (`undefined`, or a resolved promise for async
   * methods), silently. `throw`: throw `NotLeaderError` (an HTTP 503 in controllers).
   */
  onFollower?: OnFollower;
  /**
   * Run each occurrence of the method's `@Cron()` / `@Interval()` schedule at most once across all
   * instances, recorded in the runs table (see README, "Run once per occurrence"). The library then fires
   * the method itself, on the database's clock; the local scheduler's ticks do nothing. Default `false`.
   */
  once?: boolean;
  /**
   * With `once`: occurrences nobody ran (no leader, everything down) are, when a leader next runs the job,
   * `skip`: recorded missed; `latest` (default): the latest runs, the rest recorded missed; `all`: each
   * runs in order, at most `maxCatchUp` per grant, the rest recorded missed.
   */
  missed?: MissedPolicy;
  /**
   * With `once`: a run whose leader died before it finished is run again by the next leader
   * (at-least-once for that case). Default `false`: it is recorded `abandoned` (at-most-once).
   */
  recover?: boolean;
  /** With `once`: the stable name occurrences are recorded under. Default `ClassName.methodName`. */
  job?: string;
  /** With `once` and `missed: 'all'`: at most this many missed occurrences run per grant. Default 10. */
  maxCatchUp?: number;
  /** With `once`: how far back missed occurrences are looked for. Default 24 h. */
  catchUpWindowMs?: number;
}

const ONCE_ONLY_OPTIONS = ['missed', 'recover', 'job', 'maxCatchUp', 'catchUpWindowMs'] as const;

/** Checks and completes the `once` options; `undefined` without `once: true`. */
function normalizeOnce(
  arg: string | LeaderOnlyOptions | undefined,
  owner: string,
  key: string,
): OnceMetadata | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const fail = (option: string, rule: string, got: unknown): never => {
    throw new LeaderElectionConfigError(invalidOnceOptionMessage(owner, key, option, rule, got));
  };
  if (arg.once !== undefined && typeof arg.once !== 'boolean')
    fail('once', 'must be true or false', arg.once);
  if (arg.once !== true) {
    const stray = ONCE_ONLY_OPTIONS.find((option) => arg[option] !== undefined);
    if (stray) throw new LeaderElectionConfigError(onceOptionWithoutOnceMessage(owner, key, stray));
    return undefined;
  }
  const {
    missed = DEFAULT_MISSED_POLICY,
    recover = false,
    job = `${owner}.${key}`,
    maxCatchUp = DEFAULT_MAX_CATCH_UP,
    catchUpWindowMs = DEFAULT_CATCH_UP_WINDOW_MS,
  } = arg;
  if (!['skip', 'latest', 'all'].includes(missed))
    fail('missed', "must be 'skip', 'latest' or 'all'", missed);
  if (typeof recover !== 'boolean') fail('recover', 'must be true or false', recover);
  if (typeof job !== 'string' || job.length === 0 || job.length > RUN_JOB_MAX_LENGTH) {
    fail('job', `must be a name of 1 to ${RUN_JOB_MAX_LENGTH} characters`, job);
  }
  if (typeof maxCatchUp !== 'number' || !Number.isInteger(maxCatchUp) || maxCatchUp < 0) {
    fail('maxCatchUp', 'must be a whole number, 0 or more', maxCatchUp);
  }
  if (typeof catchUpWindowMs !== 'number' || !Number.isFinite(catchUpWindowMs) || catchUpWindowMs < 0) {
    fail('catchUpWindowMs', 'must be a non-negative number of milliseconds', catchUpWindowMs);
  }
  return Object.freeze({ job, missed, recover, maxCatchUp, catchUpWindowMs });
}

function normalize(arg: string | LeaderOnlyOptions | undefined): LeaderOnlyMetadata {
  if (arg === undefined) return { election: undefined, onFollower: 'skip' };
  if (typeof arg === 'string' && arg.length > 0) return { election: arg, onFollower: 'skip' };
  if (typeof arg === 'object' && arg !== null) {
    const { election, onFollower = 'skip' } = arg;
    if (
      (election === undefined || (typeof election === 'string' && election.length > 0)) &&
      (onFollower === 'skip' || onFollower === 'throw')
    ) {
      return { election, onFollower };
    }
  }
  throw new LeaderElectionConfigError(invalidLeaderOnlyOptionsMessage(arg));
}

/**
 * Runs the method only on the leader of the election; on other instances the call is skipped (or throws
 * `NotLeaderError` with `onFollower: 'throw'`). Works above or below `@Cron`, `@Interval`, `@Timeout`,
 * `@OnEvent` and route decorators. While the method runs, `LeaderElectionService.currentLeadership()`
 * gives its term and an `AbortSignal` that aborts when this leadership ends.
 *
 * @example
 * ```ts
 * @Cron(CronExpression.EVERY_MINUTE)
 * @LeaderOnly()
 * async sendInvoices() { ... }
 *
 * @Cron('0 * * * *')
 * @LeaderOnly({ once: true, missed: 'latest' }) // each hourly occurrence once across the cluster
 * async report() {
 *   const { occurrence, term } = this.leaderElection.currentLeadership()!;
 * }
 *
 * @Post('rebuild')
 * @LeaderOnly({ election: 'indexer', onFollower: 'throw' }) // 503 on standbys
 * rebuild() { ... }
 * ```
 */
export function LeaderOnly(options?: string | LeaderOnlyOptions): MethodDecorator {
  const base = normalize(options);
  return (target: object, key: string | symbol, descriptor?: PropertyDescriptor) => {
    const owner = typeof target === 'function' ? target.name : target.constructor.name;
    const original: unknown = descriptor?.value;
    if (!descriptor || typeof original !== 'function') {
      throw new LeaderElectionConfigError(leaderOnlyNotMethodMessage('LeaderOnly', owner, String(key)));
    }
    const once = normalizeOnce(options, owner, String(key));
    const metadata: LeaderOnlyMetadata = once ? { ...base, once } : base;
    const isAsync = original.constructor.name === 'AsyncFunction';
    // A Proxy keeps name, length and prototype of the original; metadata is copied explicitly because
    // reflect-metadata keys it by object identity.
    const wrapped = new Proxy(original as (...args: unknown[]) => unknown, {
      apply: (fn, thisArg: object, args: unknown[]) => invokeLeaderOnly(metadata, isAsync, fn, thisArg, args),
    });
    copyMethodMetadata(original, wrapped);
    Reflect.defineMetadata(LEADER_ONLY_METADATA, metadata, wrapped);
    descriptor.value = wrapped;
    return descriptor;
  };
}
