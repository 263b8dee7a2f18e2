import { LEADER_ONLY_METADATA } from '../leader-election.constants';
import { invalidLeaderOnlyOptionsMessage, leaderOnlyNotMethodMessage } from '../leader-election.messages';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import type { LeaderOnlyMetadata, OnFollower } from '../leader-election.interfaces';
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
 * @Post('rebuild')
 * @LeaderOnly({ election: 'indexer', onFollower: 'throw' }) // 503 on standbys
 * rebuild() { ... }
 * ```
 */
export function LeaderOnly(options?: string | LeaderOnlyOptions): MethodDecorator {
  const metadata = normalize(options);
  return (target: object, key: string | symbol, descriptor?: PropertyDescriptor) => {
    const owner = typeof target === 'function' ? target.name : target.constructor.name;
    const original: unknown = descriptor?.value;
    if (!descriptor || typeof original !== 'function') {
      throw new LeaderElectionConfigError(leaderOnlyNotMethodMessage('LeaderOnly', owner, String(key)));
    }
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
