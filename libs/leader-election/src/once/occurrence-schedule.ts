import type { CronTime as CronTimeType } from 'cron';

/** The instants of a job's schedule, on the database's clock (epoch ms). */
export interface OccurrenceSchedule {
  /** The first instant strictly after `afterMs`. */
  next(afterMs: number): number;
  /** For messages: `cron "* * * * * *"` or `every 200 ms`. */
  readonly description: string;
}

/** The epoch-aligned grid of an interval: every multiple of `everyMs` since 1970-01-01T00:00:00Z. */
export function intervalSchedule(everyMs: number): OccurrenceSchedule {
  return {
    next: (afterMs) => (Math.floor(afterMs / everyMs) + 1) * everyMs,
    description: `every ${everyMs} ms`,
  };
}

/**
 * A cron expression in its time zone (or UTC offset), through the `cron` package that `@nestjs/schedule`
 * uses, so that an occurrence is the instant the local scheduler would pick on a correct clock.
 */
export function cronSchedule(expression: string, timeZone?: string, utcOffset?: number): OccurrenceSchedule {
  // Loaded here rather than imported: @nestjs/schedule (and with it `cron`) is an optional peer.
  const { CronTime } = require('cron') as { CronTime: typeof CronTimeType };
  const time =
    utcOffset !== undefined && utcOffset !== null
      ? new CronTime(expression, null, utcOffset)
      : new CronTime(expression, timeZone ?? 'UTC');
  return {
    next: (afterMs) => time.getNextDateFrom(new Date(Math.floor(afterMs))).toMillis(),
    description: `cron "${expression}"${timeZone ? ` in ${timeZone}` : ''}`,
  };
}

/** The instants in (`afterMs`, `untilMs`], oldest first, at most the newest `limit` of them. */
export function occurrencesBetween(
  schedule: OccurrenceSchedule,
  afterMs: number,
  untilMs: number,
  limit: number,
): number[] {
  const found: number[] = [];
  for (let at = schedule.next(afterMs); at <= untilMs; at = schedule.next(at)) {
    found.push(at);
    if (found.length > limit) found.shift();
  }
  return found;
}
