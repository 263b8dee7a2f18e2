import { Logger, type LoggerService } from '@nestjs/common';
import type { ElectorLogger } from './elector/election-state';

/** The context every log line of the module carries. */
export const LOG_CONTEXT = 'LeaderElection';

/**
 * The module's logger: the `logger` option when given (every line goes to it, with the context
 * `LeaderElection`), else Nest's `Logger`.
 */
export function moduleLogger(logger: LoggerService | undefined): ElectorLogger {
  if (!logger) return new Logger(LOG_CONTEXT);
  return {
    log: (message) => logger.log(message, LOG_CONTEXT),
    warn: (message) => logger.warn(message, LOG_CONTEXT),
    error: (message) => logger.error(message, undefined, LOG_CONTEXT),
    debug: (message) => logger.debug?.(message, LOG_CONTEXT),
  };
}
