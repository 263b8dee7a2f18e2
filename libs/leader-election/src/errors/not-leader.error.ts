import { ServiceUnavailableException } from '@nestjs/common';

/**
 * Thrown when leader-only work is attempted by an instance that is not the leader of the election, or
 * whose leadership ended (also inside a fenced transaction). An HTTP 503: in a controller it answers
 * `{ statusCode: 503, error: 'Service Unavailable', message, election, leaderId }`, so that a client or a
 * proxy can go to the leader.
 */
export class NotLeaderError extends ServiceUnavailableException {
  constructor(
    /** The election concerned. */
    readonly election: string,
    /** The current leader's candidate id when known, else `null`. */
    readonly leaderId: string | null,
    message?: string,
    /** `cause`: the error that ended the attempt (e.g. the driver error of a closed fenced transaction). */
    options?: { cause?: unknown },
  ) {
    const text =
      message ??
      `This instance is not the leader of election "${election}"` +
        (leaderId ? ` (the leader is ${leaderId}).` : ' (no leader is known right now).');
    super(
      { statusCode: 503, error: 'Service Unavailable', message: text, election, leaderId },
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.message = text;
    this.name = 'NotLeaderError';
  }
}
