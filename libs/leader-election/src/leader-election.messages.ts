// Error texts in one place, each naming the option or call and the fix.

export const invalidOptionMessage = (option: string, rule: string, got: unknown): string =>
  `LeaderElectionModule option "${option}" ${rule} (got ${describe(got)}).`;

export const invalidLoggerMessage = (got: unknown, missing: readonly string[]): string =>
  'LeaderElectionModule option "logger" must be a Nest LoggerService: an object with log, warn and error ' +
  "methods, e.g. new Logger('Elections') or your app's logger (" +
  (got === null || typeof got !== 'object'
    ? `got ${describe(got)}`
    : `this one has no ${missing.join(', ')} method${missing.length > 1 ? 's' : ''}`) +
  "). Leave it out to log through Nest's Logger.";

export const timingRuleMessage = (rule: string, values: string): string =>
  `LeaderElectionModule timing options break the rule ${rule} (${values}). ` +
  'Adjust leaseDurationMs, renewIntervalMs or safetyMarginMs so that the leader can renew ' +
  'several times within one lease and stops believing it leads before the lease runs out.';

/** Quoted names, the first 8 and a count beyond (a balanced group has up to 1024). */
const quotedNames = (names: readonly string[]): string =>
  names
    .slice(0, 8)
    .map((name) => `"${name}"`)
    .join(', ') + (names.length > 8 ? ` and ${names.length - 8} more` : '');

export const unknownElectionMessage = (election: string, configured: readonly string[]): string =>
  `Unknown election "${election}": this module takes part in ${quotedNames(configured)}. Add it to the "elections" option of LeaderElectionModule.forRoot(), or use one of those.`;

export const unknownBalancedGroupMessage = (
  prefix: string | undefined,
  prefixes: readonly string[],
): string =>
  prefixes.length === 0
    ? 'No balanced elections are configured: add a group such as { prefix: \'shard-\', count: 64 } to the "elections" option of LeaderElectionModule.forRoot().'
    : prefix === undefined
      ? `Several balanced groups are configured (${prefixes.map((p) => `"${p}"`).join(', ')}): pass the prefix of the one you mean.`
      : `Unknown balanced group "${prefix}": the configured prefixes are ${prefixes.map((p) => `"${p}"`).join(', ')}.`;

export const invalidTableNameMessage = (tableName: unknown): string =>
  invalidOptionMessage(
    'tableName',
    'must be a plain SQL identifier: a letter or _ followed by up to 63 letters, digits, _ or $',
    tableName,
  );

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export const leaderOnlyNotMethodMessage = (decorator: string, owner: string, key: string): string =>
  `@${decorator}() can only decorate a method, but ${owner}.${key} is not one. ` +
  'Put it on a class method (above or below @Cron, @Interval, @Timeout or @OnEvent).';

export const unknownDecoratorElectionMessage = (
  decorator: string,
  owner: string,
  key: string,
  election: string,
  configured: readonly string[],
): string =>
  `@${decorator}("${election}") on ${owner}.${key} names an election that is not configured ` +
  `(configured: ${quotedNames(configured)}). ` +
  'Add it to the "elections" option of LeaderElectionModule.forRoot(), or fix the name.';

export const requestScopedMessage = (decorator: string, owner: string, key: string): string =>
  `@${decorator}() on ${owner}.${key} cannot work: ${owner} is request-scoped (or depends on a ` +
  'request-scoped provider), so it has no instance at bootstrap for scheduled jobs or leadership hooks. ' +
  'Move the method to a singleton provider.';

export const invalidLeaderOnlyOptionsMessage = (got: unknown): string =>
  `@LeaderOnly() takes an election name or { election?: string; onFollower?: 'skip' | 'throw' } (got ${
    typeof got === 'object' ? JSON.stringify(got) : String(got)
  }).`;

export const fenceTableInvisibleMessage = (tableName: string, detail: string): string =>
  `Fenced write: the lease table "${tableName}" is not usable on the connection of the Kysely you passed ` +
  `(${detail}). Fenced writes need your tables and the lease table in the same database: point ` +
  'LeaderElectionModule\'s "connection" at that database, or pass a Kysely connected to it.';

export const fenceLostMessage = (election: string, term: number): string =>
  `Fenced write refused: this instance no longer holds term ${term} of election "${election}" on the ` +
  'database (the lease expired or was taken over). The transaction is rolled back.';

export const assertLeaderNeedsTransactionMessage = (): string =>
  'assertLeader() needs a kysely Transaction, not a Kysely instance: the shared lock on the lease row ends ' +
  'with the statement outside a transaction, so nothing after it would be fenced. Call it inside ' +
  'db.transaction().execute(async (trx) => { await leaderElection.assertLeader(trx); ... }), or use ' +
  'leaderElection.runFenced(db, work), which opens the transaction for you.';

export const fenceConnectionLostMessage = (election: string, term: number): string =>
  `Fenced write refused: the connection of the fenced transaction under term ${term} of election ` +
  `"${election}" was closed (this process was paused or cut off longer than the lease, or the server went ` +
  'away) and this instance no longer holds that term. The transaction was rolled back by the server; ' +
  'the driver error is the cause.';

export const waitAfterShutdownMessage = (election: string): string =>
  `waitForLeadership("${election}"): the application is shutting down or shut down, so this instance ` +
  'will not lead again. Call it while the application runs, and pass a signal to stop waiting at shutdown.';

export const notLeaderSignalReason = (election: string): string =>
  `This instance is not the leader of election "${election}".`;

export const waitAbortedMessage = (election: string): string =>
  `waitForLeadership("${election}") was aborted.`;

export const drainTimeoutMessage = (running: number, timeoutMs: number): string =>
  `${running} @LeaderOnly() call(s) still running after drainTimeoutMs (${timeoutMs} ms); ` +
  'releasing the lease anyway. Make long jobs watch currentLeadership().signal.';

export const hookFailedMessage = (label: string, election: string, term: number, error: unknown): string =>
  `Leadership hook ${label} failed for "${election}" (term ${term}): ` +
  `${error instanceof Error ? error.message : String(error)}`;

export const hooksSkippedMessage = (election: string, term: number): string =>
  `Skipped the @OnLeadershipGranted() hooks of "${election}" (term ${term}): that leadership ended before ` +
  'they could run (earlier hooks were still running). Its @OnLeadershipRevoked() hooks are skipped too.';

export const noShutdownHooksMessage = (leaseDurationMs: number): string =>
  'Shutdown hooks are not enabled: on SIGTERM this instance stops without releasing its lease, so a ' +
  `standby takes over only when the lease runs out (leaseDurationMs = ${leaseDurationMs} ms) instead of ` +
  'within milliseconds, and running @LeaderOnly() jobs are not drained. Call app.enableShutdownHooks() ' +
  'in main.ts before app.listen() (or right after NestFactory.createApplicationContext()).';

export const noSchedulerMessage = (methods: readonly string[]): string =>
  `@LeaderOnly() is on scheduled method(s) ${methods.join(', ')}, but no scheduler is registered, so ` +
  'they never run on any instance. Import ScheduleModule.forRoot() from @nestjs/schedule in your root module.';

export const healthWithoutServiceMessage = (): string =>
  'LeaderElectionHealthModule cannot find LeaderElectionService: LeaderElectionModule is registered with ' +
  '"isGlobal: false" (or not at all). Import LeaderElectionModule.forRoot() with isGlobal: true (the ' +
  'default), or provide LeaderElectionHealthIndicator yourself in a module that imports the ' +
  'LeaderElectionModule.';

export const unknownOptionMessage = (
  key: string,
  closest: string | undefined,
  valid: readonly string[],
): string =>
  `LeaderElectionModule has no option "${key}"` +
  (closest ? ` (did you mean "${closest}"?)` : '') +
  `. Valid options: ${valid.join(', ')}.`;

export const numericStringMessage = (option: string, value: string): string =>
  `LeaderElectionModule option "${option}" must be a number, not the string ${JSON.stringify(value)}. Values from ConfigService or process.env are strings: convert them, e.g. ` +
  `${option}: Number(config.get('...')).`;

export const invalidCollationMessage = (collation: unknown): string =>
  `Invalid lease key collation ${JSON.stringify(collation)}: use a utf8mb4 binary collation ` +
  "('utf8mb4_bin', 'utf8mb4_nopad_bin' on MariaDB or 'utf8mb4_0900_bin' on MySQL 8).";

export const fenceGaleraAbortMessage = (election: string, term: number): string =>
  `Fenced write refused: the Galera cluster aborted the fenced transaction under term ${term} of election ` +
  `"${election}" (a conflicting write to the lease row, such as a takeover through another node or this ` +
  "instance's own renewal, was certified first, or the node left the primary component). Nothing of it " +
  'was committed; the driver error is the cause. Retry if this instance still leads.';

// ---- @LeaderOnly({ once: true }) ----------------------------------------------------------------------

export const invalidOnceOptionMessage = (
  owner: string,
  key: string,
  option: string,
  rule: string,
  got: unknown,
): string => `@LeaderOnly() on ${owner}.${key}: option "${option}" ${rule} (got ${describe(got)}).`;

export const onceOptionWithoutOnceMessage = (owner: string, key: string, option: string): string =>
  `@LeaderOnly() on ${owner}.${key}: option "${option}" only applies to run-once jobs. Add once: true, or remove "${option}".`;

export const onceOnTimeoutMessage = (label: string): string =>
  `@LeaderOnly({ once: true }) on ${label} is combined with @Timeout(), which fires once per process start, not ` +
  'on a schedule. Use @Cron() or @Interval() with once: true, or remove once: true.';

export const onceWithoutScheduleMessage = (label: string): string =>
  `@LeaderOnly({ once: true }) on ${label} needs a schedule: add @Cron() or @Interval() to the method ` +
  '(handlers and methods called directly cannot run once per occurrence), or remove once: true.';

export const onceCronNotExpressionMessage = (label: string): string =>
  `@LeaderOnly({ once: true }) on ${label}: @Cron() must be given a cron expression (a string), not a date. ` +
  'Use an expression, or remove once: true.';

export const onceDuplicateJobMessage = (job: string, first: string, second: string): string =>
  `@LeaderOnly({ once: true }) job name "${job}" is used by both ${first} and ${second}. Give one of them ` +
  'its own name with the "job" option.';

export const onceStartFailedMessage = (election: string, term: number, error: unknown): string =>
  `Run-once jobs of election "${election}" could not start under term ${term}: ${errorText(error)}. Retrying.`;

export const onceClaimFailedMessage = (label: string, occurrence: number, error: unknown): string =>
  `Run-once job ${label}: occurrence ${new Date(occurrence).toISOString()} could not be recorded: ` +
  `${errorText(error)}. It did not run and has no row in the runs table. ` +
  'Logged once until recording works again.';

export const onceFinishFailedMessage = (label: string, occurrence: number, error: unknown): string =>
  `Run-once job ${label}: the outcome of occurrence ${new Date(occurrence).toISOString()} could not be ` +
  `written: ${errorText(error)}. Its row stays "running" and is recorded "abandoned" by the next leader.`;

export const onceRecoveredMessage = (label: string): string =>
  `Run-once job ${label}: occurrences are recorded again.`;

export const oncePruneFailedMessage = (label: string, error: unknown): string =>
  `Run-once job ${label}: old runs could not be pruned: ${errorText(error)}. Retrying in an hour.`;

export const unknownJobMessage = (job: string, known: readonly string[]): string =>
  `Unknown run-once job "${job}". Known jobs: ${known.map((name) => `"${name}"`).join(', ') || 'none'}. ` +
  'Jobs are named ClassName.methodName unless @LeaderOnly({ once: true, job }) names them.';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
