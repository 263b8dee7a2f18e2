import { Injectable } from '@nestjs/common';
import {
  LEADER_ONLY_METADATA,
  LEADERSHIP_HOOK_METADATA,
  SCHEDULE_METADATA_KINDS,
} from './leader-election.constants';
import type { LeaderOnlyMetadata, LeadershipHookMetadata } from './leader-election.interfaces';

/** How `@nestjs/schedule` runs a method, as far as its metadata tells. */
export type ScheduleKind = 'cron' | 'interval' | 'timeout';

/** The schedule `@nestjs/schedule` metadata gives a method, as a `once` job needs it. */
export type ScheduleSpec =
  | {
      readonly kind: 'cron';
      readonly cronTime: unknown;
      readonly timeZone?: string;
      readonly utcOffset?: number;
    }
  | { readonly kind: 'interval'; readonly everyMs: number }
  | { readonly kind: 'timeout' };

/**
 * Reads what the decorators attached to a method: `@LeaderOnly()`, the leadership hooks, and whether
 * `@nestjs/schedule` schedules it (read by its metadata keys, so that the scheduler stays optional).
 */
@Injectable()
export class LeaderElectionMetadataAccessor {
  /** `@LeaderOnly()`'s options on this method, or `undefined`. */
  getLeaderOnly(method: object): LeaderOnlyMetadata | undefined {
    return Reflect.getMetadata(LEADER_ONLY_METADATA, method) as LeaderOnlyMetadata | undefined;
  }

  /** The leadership hooks on this method (empty when none). */
  getHooks(method: object): readonly LeadershipHookMetadata[] {
    return (
      (Reflect.getMetadata(LEADERSHIP_HOOK_METADATA, method) as LeadershipHookMetadata[] | undefined) ?? []
    );
  }

  /** `cron`, `interval` or `timeout` when `@nestjs/schedule` schedules this method, else `undefined`. */
  getScheduleKind(method: object): ScheduleKind | undefined {
    for (const [key, kind] of SCHEDULE_METADATA_KINDS) {
      if (Reflect.getMetadata(key, method) !== undefined) return kind;
    }
    return undefined;
  }

  /** The method's `@Cron()` / `@Interval()` / `@Timeout()` settings, or `undefined` without one. */
  getSchedule(method: object): ScheduleSpec | undefined {
    const cron = Reflect.getMetadata('SCHEDULE_CRON_OPTIONS', method) as
      { cronTime: unknown; timeZone?: string; utcOffset?: number } | undefined;
    if (cron)
      return { kind: 'cron', cronTime: cron.cronTime, timeZone: cron.timeZone, utcOffset: cron.utcOffset };
    const interval = Reflect.getMetadata('SCHEDULE_INTERVAL_OPTIONS', method) as
      { timeout: number } | undefined;
    if (interval) return { kind: 'interval', everyMs: interval.timeout };
    if (Reflect.getMetadata('SCHEDULE_TIMEOUT_OPTIONS', method) !== undefined) return { kind: 'timeout' };
    return undefined;
  }
}
