/**
 * A configuration mistake: a bad option, an election that is not configured, a misplaced decorator.
 * The message names the option (or decorator) and how to fix it.
 */
export class LeaderElectionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderElectionConfigError';
  }
}
