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

/**
 * The instants in (`afterMs`, `untilMs`], oldest first, at most the newest `limit` of them. Scans back from
 * `untilMs` in a window that doubles until it holds `limit` instants or reaches `afterMs`, so that a long
 * outage costs O(limit) steps rather than one step per instant since (a per-second cron after a day:
 * 86,400 steps of the cron parser, seconds of blocked event loop, renewals missed).
 */
export function occurrencesBetween(
  schedule: OccurrenceSchedule,
  afterMs: number,
  untilMs: number,
  limit: number,
): number[] {
  for (let windowMs = 60_000; ; windowMs *= 2) {
    const start = Math.max(afterMs, untilMs - windowMs);
    const found: number[] = [];
    for (let at = schedule.next(start); at <= untilMs; at = schedule.next(at)) {
      found.push(at);
      if (found.length > limit) break;
    }
    if (found.length > limit || start === afterMs) {
      // Enough (or everything): the newest `limit` of this window are the newest overall.
      if (found.length <= limit) return found;
      return newest(schedule, start, untilMs, limit, found);
    }
  }
}

/** The newest `limit` instants of (`start`, `untilMs`], given the first `limit + 1` of them. */
function newest(
  schedule: OccurrenceSchedule,
  start: number,
  untilMs: number,
  limit: number,
  head: number[],
): number[] {
  // Slide forward in halves of the window until what is left holds at most `limit` instants.
  let from = start;
  let tail = head;
  while (tail.length > limit) {
    const mid = from + (untilMs - from) / 2;
    const rest: number[] = [];
    for (let at = schedule.next(mid); at <= untilMs && rest.length <= limit; at = schedule.next(at))
      rest.push(at);
    if (rest.length > limit) {
      from = mid;
      tail = rest;
    } else {
      // Between `from` and `mid` there are more; take the last ones of (from, mid] to complete `rest`.
      const before: number[] = [];
      for (let at = schedule.next(from); at <= mid; at = schedule.next(at)) {
        before.push(at);
        if (before.length > limit - rest.length) before.shift();
      }
      return [...before.slice(before.length - (limit - rest.length)), ...rest];
    }
  }
  return tail;
}
