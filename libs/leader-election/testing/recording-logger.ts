import type { LoggerService } from '@nestjs/common';
import type { ElectorLogger } from '../src/elector/election-state';

/** A level a line was logged at. */
export type LogLevel = 'log' | 'warn' | 'error' | 'debug' | 'verbose' | 'fatal';

/**
 * A logger that keeps every line, by level, for assertions on what was logged and how often. Serves as
 * a Nest `LoggerService` (apps in tests) and as the elector's logger (unit specs).
 */
export class RecordingLogger implements LoggerService, ElectorLogger {
  readonly lines: { level: LogLevel; message: string }[] = [];
  log(message: unknown) {
    this.record('log', message);
  }
  error(message: unknown) {
    this.record('error', message);
  }
  warn(message: unknown) {
    this.record('warn', message);
  }
  debug(message: unknown) {
    this.record('debug', message);
  }
  verbose(message: unknown) {
    this.record('verbose', message);
  }
  fatal(message: unknown) {
    this.record('fatal', message);
  }
  /** Lines at log level or above (log, warn, error, fatal). */
  infoOrAbove() {
    return this.lines.filter((line) => ['log', 'warn', 'error', 'fatal'].includes(line.level));
  }
  /** The messages logged at `level`. */
  at(level: LogLevel) {
    return this.lines.filter((line) => line.level === level).map((line) => line.message);
  }
  /** The lines whose message contains `text`. */
  including(text: string) {
    return this.lines.filter((line) => line.message.includes(text));
  }
  private record(level: LogLevel, message: unknown) {
    this.lines.push({ level, message: String(message) });
  }
}
