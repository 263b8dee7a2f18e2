/**
 * Thrown when leader-only work is attempted by a candidate that is not the leader of the election, or
 * whose leadership ended (also inside a fenced transaction).
 */
export class NotLeaderError extends Error {
  constructor(
    /** The election concerned. */
    readonly election: string,
    /** The current leader's candidate id when known, else `null`. */
    readonly leaderId: string | null,
    message?: string,
  ) {
    super(
      message ??
        `This instance is not the leader of election "${election}"` +
          (leaderId ? ` (the leader is ${leaderId}).` : ' (no leader is known right now).'),
    );
    this.name = 'NotLeaderError';
  }
}
