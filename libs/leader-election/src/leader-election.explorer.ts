import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { balancedElectionNames } from './elector/balanced-group';
import { LeaderElectionConfigError } from './errors/leader-election-config.error';
import { LEADER_ELECTION_SETTINGS, SCHEDULER_PROVIDER_NAMES } from './leader-election.constants';
import { LeaderElectionMetadataAccessor } from './leader-election.metadata-accessor';
import type { LeaderOnlyMetadata } from './leader-election.interfaces';
import {
  noSchedulerMessage,
  onceCronNotExpressionMessage,
  onceDuplicateJobMessage,
  onceOnTimeoutMessage,
  onceWithoutScheduleMessage,
  requestScopedMessage,
  unknownDecoratorElectionMessage,
} from './leader-election.messages';
import { cronSchedule, intervalSchedule, type OccurrenceSchedule } from './once/occurrence-schedule';
import type { ResolvedLeaderElectionOptions } from './leader-election.options';
import { LeaderElectionOrchestrator } from './leader-election.orchestrator';
import { moduleLogger } from './leader-election.logger';
import type { ElectorLogger } from './elector/election-state';

const HOOK_DECORATORS = { granted: 'OnLeadershipGranted', revoked: 'OnLeadershipRevoked' } as const;

/**
 * Finds `@LeaderOnly()` methods and leadership hooks on every provider and controller of the app, checks
 * them, and hands them to the orchestrator. Discovery only: metadata is read by the accessor, and calls
 * are run by the orchestrator.
 */
@Injectable()
export class LeaderElectionExplorer implements OnModuleInit {
  private readonly logger: ElectorLogger;
  /** `once` job name -> `Class.method`, to refuse two methods recording under one name. */
  private readonly onceJobs = new Map<string, string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: LeaderElectionMetadataAccessor,
    private readonly orchestrator: LeaderElectionOrchestrator,
    @Inject(LEADER_ELECTION_SETTINGS) private readonly options: ResolvedLeaderElectionOptions,
  ) {
    this.logger = moduleLogger(options.logger);
  }

  onModuleInit(): void {
    const providers = this.discovery.getProviders();
    const scheduled: string[] = [];
    for (const wrapper of [...providers, ...this.discovery.getControllers()]) {
      scheduled.push(...this.explore(wrapper));
    }
    const hasScheduler = providers.some((wrapper) =>
      SCHEDULER_PROVIDER_NAMES.includes(String(wrapper.metatype?.name ?? wrapper.name)),
    );
    if (scheduled.length > 0 && !hasScheduler) this.logger.warn(noSchedulerMessage(scheduled));
  }

  /** Registers the wrapper's decorated methods; returns the `Class.method` of scheduled leader-only ones. */
  private explore(wrapper: InstanceWrapper): string[] {
    const { instance } = wrapper;
    const prototype: object | undefined =
      instance && typeof instance === 'object'
        ? Object.getPrototypeOf(instance)
        : wrapper.metatype?.prototype;
    if (!prototype || prototype === Object.prototype) return [];
    const owner = (prototype.constructor as { name?: string } | undefined)?.name ?? String(wrapper.name);
    const scheduled: string[] = [];
    let found = false;
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = (prototype as Record<string, unknown>)[methodName];
      if (typeof method !== 'function') continue;
      const leaderOnly = this.accessor.getLeaderOnly(method);
      const hooks = this.accessor.getHooks(method);
      if (!leaderOnly && hooks.length === 0) continue;
      found = true;
      const decorator = leaderOnly ? 'LeaderOnly' : HOOK_DECORATORS[hooks[0].kind];
      if (!wrapper.isDependencyTreeStatic()) {
        throw new LeaderElectionConfigError(requestScopedMessage(decorator, owner, methodName));
      }
      if (leaderOnly) {
        const election = this.checkElection('LeaderOnly', owner, methodName, leaderOnly.election);
        if (this.accessor.getScheduleKind(method)) scheduled.push(`${owner}.${methodName}`);
        if (leaderOnly.once)
          this.registerOnce(wrapper, method, methodName, `${owner}.${methodName}`, election, leaderOnly);
      }
      for (const hook of hooks) {
        const decorator = HOOK_DECORATORS[hook.kind];
        for (const election of this.hookElections(decorator, owner, methodName, hook.election)) {
          for (const target of instancesOf(wrapper)) {
            this.orchestrator.addHook({
              kind: hook.kind,
              election,
              instance: target,
              methodName,
              label: `${owner}.${methodName}`,
            });
          }
        }
      }
    }
    if (found) for (const target of instancesOf(wrapper)) this.orchestrator.bind(target);
    return scheduled;
  }

  /** Checks a `once` method's schedule and hands it to the orchestrator (first instance only). */
  private registerOnce(
    wrapper: InstanceWrapper,
    method: object,
    methodName: string,
    label: string,
    election: string,
    metadata: LeaderOnlyMetadata,
  ): void {
    const once = metadata.once!;
    const spec = this.accessor.getSchedule(method);
    if (!spec) throw new LeaderElectionConfigError(onceWithoutScheduleMessage(label));
    if (spec.kind === 'timeout') throw new LeaderElectionConfigError(onceOnTimeoutMessage(label));
    let schedule: OccurrenceSchedule;
    if (spec.kind === 'cron') {
      if (typeof spec.cronTime !== 'string')
        throw new LeaderElectionConfigError(onceCronNotExpressionMessage(label));
      schedule = cronSchedule(spec.cronTime, spec.timeZone, spec.utcOffset);
    } else {
      schedule = intervalSchedule(spec.everyMs);
    }
    const first = this.onceJobs.get(once.job);
    if (first !== undefined)
      throw new LeaderElectionConfigError(onceDuplicateJobMessage(once.job, first, label));
    this.onceJobs.set(once.job, label);
    // A transient provider has several instances; the job runs once per occurrence, on the first.
    const [instance] = instancesOf(wrapper);
    if (!instance) return;
    this.orchestrator.addOnceJob({ ...once, label, election, schedule }, metadata, instance, methodName);
  }

  /** A hook's elections: every one of a balanced group for `'<prefix>*'`, else the one it names. */
  private hookElections(
    decorator: string,
    owner: string,
    methodName: string,
    election: string | undefined,
  ): string[] {
    const group =
      election?.endsWith('*') === true
        ? this.options.balanced.find((spec) => `${spec.prefix}*` === election)
        : undefined;
    if (group) return balancedElectionNames(group);
    return [this.checkElection(decorator, owner, methodName, election)];
  }

  private checkElection(
    decorator: string,
    owner: string,
    methodName: string,
    election: string | undefined,
  ): string {
    const { elections } = this.options;
    const name = election ?? elections[0];
    if (!elections.includes(name)) {
      throw new LeaderElectionConfigError(
        unknownDecoratorElectionMessage(decorator, owner, methodName, name, elections),
      );
    }
    return name;
  }
}

/** The instances of a provider: one for a singleton, each static one for a transient provider. */
function instancesOf(wrapper: InstanceWrapper): object[] {
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
