import type { LoggerService } from '@nestjs/common';

/** A logger that keeps every line, by level, for assertions (and prints errors only when asked). */
export class RecordingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: unknown) {
    this.lines.push({ level: 'log', message: String(message) });
  }
  error(message: unknown) {
    this.lines.push({ level: 'error', message: String(message) });
  }
  warn(message: unknown) {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  debug(message: unknown) {
    this.lines.push({ level: 'debug', message: String(message) });
  }
  verbose(message: unknown) {
    this.lines.push({ level: 'verbose', message: String(message) });
  }
  /** Lines at log level or above (log, warn, error). */
  infoOrAbove() {
    return this.lines.filter((line) => ['log', 'warn', 'error', 'fatal'].includes(line.level));
  }
}
