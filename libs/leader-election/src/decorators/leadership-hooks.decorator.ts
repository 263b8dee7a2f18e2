import { LEADERSHIP_HOOK_METADATA } from '../leader-election.constants';
import { leaderOnlyNotMethodMessage } from '../leader-election.messages';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import type { LeadershipHookKind, LeadershipHookMetadata } from '../leader-election.interfaces';

function leadershipHook(kind: LeadershipHookKind, decorator: string, election?: string): MethodDecorator {
  return (target: object, key: string | symbol, descriptor?: PropertyDescriptor) => {
    if (!descriptor || typeof descriptor.value !== 'function') {
      const owner = typeof target === 'function' ? target.name : target.constructor.name;
      throw new LeaderElectionConfigError(leaderOnlyNotMethodMessage(decorator, owner, String(key)));
    }
    const existing: LeadershipHookMetadata[] =
      Reflect.getOwnMetadata(LEADERSHIP_HOOK_METADATA, descriptor.value) ?? [];
    Reflect.defineMetadata(LEADERSHIP_HOOK_METADATA, [...existing, { kind, election }], descriptor.value);
    return descriptor;
  };
}

/**
 * Called with `{ election, term, signal }` each time this instance becomes leader of the election (for
 * example to start a queue consumer; stop it when `signal` aborts). Hooks run one at a time, in order of
 * transitions; errors are logged. A granted hook whose leadership already ended by the time its turn
 * comes (an earlier hook was slow) is skipped, and so are that leadership's revoked hooks.
 * `'shard-*'` names every election of the balanced group with prefix `'shard-'`; `election` then says which.
 *
 * @example
 * ```ts
 * @OnLeadershipGranted()
 * startConsumer({ term }: LeadershipChange) { this.consumer.start(term); }
 * ```
 */
export function OnLeadershipGranted(election?: string): MethodDecorator {
  return leadershipHook('granted', 'OnLeadershipGranted', election);
}

/**
 * Called with `{ election, term, signal }` each time this instance's leadership of the election ends
 * (step-down, resign, shutdown), after its signal was aborted. `'shard-*'` names every election of the
 * balanced group with prefix `'shard-'`.
 */
export function OnLeadershipRevoked(election?: string): MethodDecorator {
  return leadershipHook('revoked', 'OnLeadershipRevoked', election);
}
