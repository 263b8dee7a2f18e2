import { DEFAULT_ELECTION } from './leader-election.constants';
import type { LeaderOnlyMetadata } from './leader-election.interfaces';
import { NotLeaderError } from './errors/not-leader.error';

type AnyFunction = (...args: unknown[]) => unknown;

/** What runs a `@LeaderOnly()` call for one Nest app (its orchestrator). */
export interface LeaderOnlyInvoker {
  invoke(
    metadata: LeaderOnlyMetadata,
    isAsync: boolean,
    fn: AnyFunction,
    thisArg: object,
    args: unknown[],
  ): unknown;
}

// Instance -> the orchestrator of the Nest app that created it. Filled by the explorer; a WeakMap rather
// than a singleton so that several apps in one process (tests, workers) each keep their own leadership.
const invokers = new WeakMap<object, LeaderOnlyInvoker>();

/** Binds a provider or controller instance to its app's orchestrator (explorer only). */
export function bindLeaderOnlyInstance(instance: object, invoker: LeaderOnlyInvoker): void {
  invokers.set(instance, invoker);
}

/** The body of every `@LeaderOnly()` wrapper. An instance the explorer never saw fails closed. */
export function invokeLeaderOnly(
  metadata: LeaderOnlyMetadata,
  isAsync: boolean,
  fn: AnyFunction,
  thisArg: unknown,
  args: unknown[],
): unknown {
  const invoker = typeof thisArg === 'object' && thisArg !== null ? invokers.get(thisArg) : undefined;
  if (!invoker) return refuseLeaderOnly(metadata, isAsync, metadata.election ?? DEFAULT_ELECTION, null);
  return invoker.invoke(metadata, isAsync, fn, thisArg as object, args);
}

/** What a follower's `@LeaderOnly()` call returns: nothing (`skip`) or a `NotLeaderError` (`throw`). */
export function refuseLeaderOnly(
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
