import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import type { LeaderOnlyMetadata } from './decorators/leader-only.decorator';
import type { LeadershipHookMetadata } from './decorators/leadership-hooks.decorator';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import { LEADER_ONLY_METADATA, LEADERSHIP_HOOK_METADATA } from './leader-election.constants';
import { requestScopedMessage, unknownDecoratorElectionMessage } from './leader-election.messages';
import { LeaderElectionService, LEADER_ONLY_RUNTIME } from './leader-election.service';
import { bindLeaderOnlyInstance } from './leader-only.runtime';

/**
 * Finds `@LeaderOnly()` methods and leadership hooks on every provider and controller of the app, checks
 * them, and binds their instances to this app's leadership.
 */
@Injectable()
export class LeaderElectionExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly service: LeaderElectionService,
  ) {}

  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      this.explore(wrapper);
    }
  }

  private explore(wrapper: InstanceWrapper): void {
    const { instance } = wrapper;
    const prototype: object | undefined =
      instance && typeof instance === 'object'
        ? Object.getPrototypeOf(instance)
        : wrapper.metatype?.prototype;
    if (!prototype || prototype === Object.prototype) return;
    const owner = (prototype.constructor as { name?: string } | undefined)?.name ?? String(wrapper.name);
    const runtime = this.service[LEADER_ONLY_RUNTIME];
    let found = false;
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = (prototype as Record<string, unknown>)[methodName];
      if (typeof method !== 'function') continue;
      const leaderOnly: LeaderOnlyMetadata | undefined = Reflect.getMetadata(LEADER_ONLY_METADATA, method);
      const hooks: LeadershipHookMetadata[] = Reflect.getMetadata(LEADERSHIP_HOOK_METADATA, method) ?? [];
      if (!leaderOnly && hooks.length === 0) continue;
      found = true;
      const decorator = leaderOnly
        ? 'LeaderOnly'
        : hooks[0].kind === 'granted'
          ? 'OnLeadershipGranted'
          : 'OnLeadershipRevoked';
      if (!wrapper.isDependencyTreeStatic()) {
        throw new LeaderElectionConfigError(requestScopedMessage(decorator, owner, methodName));
      }
      if (leaderOnly) this.checkElection('LeaderOnly', owner, methodName, leaderOnly.election);
      for (const hook of hooks) {
        const name = hook.kind === 'granted' ? 'OnLeadershipGranted' : 'OnLeadershipRevoked';
        const election = this.checkElection(name, owner, methodName, hook.election);
        for (const target of this.instancesOf(wrapper)) {
          runtime.addHook({
            kind: hook.kind,
            election,
            instance: target,
            methodName,
            label: `${owner}.${methodName}`,
          });
        }
      }
    }
    if (found) for (const target of this.instancesOf(wrapper)) bindLeaderOnlyInstance(target, runtime);
  }

  private checkElection(
    decorator: string,
    owner: string,
    methodName: string,
    election: string | undefined,
  ): string {
    const name = election ?? this.service.elections[0];
    if (!this.service.elections.includes(name)) {
      throw new LeaderElectionConfigError(
        unknownDecoratorElectionMessage(decorator, owner, methodName, name, this.service.elections),
      );
    }
    return name;
  }

  private instancesOf(wrapper: InstanceWrapper): object[] {
    if (wrapper.isTransient) {
      return wrapper
        .getStaticTransientInstances()
        .map((entry) => entry?.instance as object | undefined)
        .filter((value): value is object => typeof value === 'object' && value !== null);
    }
    return typeof wrapper.instance === 'object' && wrapper.instance !== null
      ? [wrapper.instance as object]
      : [];
  }
}
