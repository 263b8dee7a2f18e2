// Every text the CLI prints that is not data: help, usage errors and failures naming the fix.

/** The program's name, as `npx` runs it. */
export const CLI_NAME = 'nestjs-leader-election';

/** Exit codes: documented in `--help` and the README. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Rows `history` and `runs` print unless `--limit` says otherwise. */
export const DEFAULT_CLI_LIMIT = 20;

export const HELP = `Usage: ${CLI_NAME} <command> [options]

Operates the lease table of nestjs-leader-election on MySQL/MariaDB.

Commands:
  status            Every election in the table: holder, term, lease remaining on the
                    database's clock, valid/expired. Standbys are not recorded anywhere
                    (only the holder writes the row), so they are not listed.
  resign <election> Takes the lease away from its holder. The holder's next renewal (within
                    renewIntervalMs) fails and it steps down; the lease keeps its expiry, so
                    no other candidate takes over before it runs out (at most
                    leaseDurationMs): a standby never leads while the old leader still
                    believes it does. Any candidate, the old holder included, may win the
                    next term.
  resign <election> --to ID [--wait MS]
                    Hands the lease to candidate ID (its full id, as status shows holders):
                    asks the holder, which steps down at its next renewal (within
                    renewIntervalMs) and hands over; ID takes the next term at once while
                    the others hold off for handoverWindowMs. Waits up to --wait ms
                    (default 30000) for the new term; exit 0 when ID took it, 1 when
                    another candidate did or nobody did in time (the request is then
                    withdrawn).
  history [election]
                    Leadership history, newest term first: term, holder, acquired, ended,
                    and why it ended (released, resigned, expired, handed-over; open
                    while it runs). Every election's when none is named.
  runs [job]        Runs of @LeaderOnly({ once: true }) jobs, newest occurrence first:
                    occurrence, attempt, outcome, term, holder, error. Every job's when
                    none is named.
  jobs              Every job of the runs table: last occurrence, last outcome, rows,
                    failed and missed.
  migrate           Creates the lease, terms and runs tables (or upgrades a lease table
                    made by 0.1.0).
  sql               Prints the lease table's CREATE TABLE statement (no connection needed).


Options:
  --url <uri>       mysql://user:password@host:3306/database (default: $MYSQL_URL)
  --table <name>    lease table (default: leader_election_lease)
  --terms-table <name>  history table (default: leader_election_terms)
  --runs-table <name>   runs table (default: leader_election_runs)
  --limit <n>       rows of history and runs (default ${DEFAULT_CLI_LIMIT})
  --json            machine-readable output on stdout
  -h, --help        this text

Exit codes: 0 done (also when there is nothing to list), 1 failed (connection,
privileges, missing table or election), 2 usage error (unknown command or option,
missing or invalid argument).
Passwords are never printed.`;

export function unknownCommandMessage(command: string): string {
  return `Unknown command "${command}". Run ${CLI_NAME} --help for the commands.`;
}

export function unknownOptionMessage(option: string): string {
  return `Unknown option "${option}". Run ${CLI_NAME} --help for the options.`;
}

export function invalidLimitMessage(value: string): string {
  return `Invalid --limit "${value}": use a whole number from 1 to 100000, e.g. --limit 50.`;
}

export function operandUsageMessage(command: string, operand: string): string {
  return `${command} takes at most one ${operand}: ${CLI_NAME} ${command} [${operand}].`;
}

export function sideTableMissingMessage(option: string, table: string, what: string): string {
  return (
    `The ${what} table \`${table}\` does not exist in this database: check ${option} and the database in ` +
    `--url, or create it with ${CLI_NAME} migrate (the module creates it with createTable: true).`
  );
}

export function missingValueMessage(option: string): string {
  const examples: Record<string, string> = {
    '--url': '--url mysql://user@host:3306/db',
    '--limit': '--limit 50',
    '--terms-table': '--terms-table leader_election_terms',
    '--runs-table': '--runs-table leader_election_runs',
  };
  return `Option ${option} needs a value, e.g. ${examples[option] ?? '--table leader_election_lease'}.`;
}

export const NO_URL_MESSAGE =
  'No database given: pass --url mysql://user:password@host:3306/database or set MYSQL_URL.';

export function invalidTableMessage(table: string, option = '--table'): string {
  return `Invalid ${option} "${table}": use letters, digits and _ only.`;
}

export function resignUsageMessage(): string {
  return `resign needs the election's name: ${CLI_NAME} resign <election> (see ${CLI_NAME} status).`;
}

export function tableMissingMessage(table: string): string {
  return (
    `The lease table \`${table}\` does not exist in this database: check --table and the database in ` +
    `--url, or create it with ${CLI_NAME} migrate.`
  );
}

export function noSuchElectionMessage(election: string, table: string): string {
  return `No election "${election}" in \`${table}\` (names are case-sensitive; see ${CLI_NAME} status).`;
}

export function notHeldMessage(election: string): string {
  return `Election "${election}" has no valid lease: nothing to resign.`;
}

export function handedOverMessage(election: string, to: string, term: number, elapsedMs: number): string {
  return `Handed "${election}" over to ${to}: term ${term}, ${elapsedMs} ms after the request.`;
}

export function takenByOtherMessage(election: string, to: string, holder: string, term: number): string {
  return (
    `"${election}" was not taken by ${to}: ${holder} took term ${term} (is ${to} running and a candidate ` +
    `of "${election}"? ids are case-sensitive; see ${CLI_NAME} status).`
  );
}

export function handoverTimedOutMessage(
  election: string,
  to: string,
  holder: string,
  waitMs: number,
): string {
  return (
    `Nobody took "${election}" within ${waitMs} ms: ${holder} still holds it and the request to hand ` +
    `over to ${to} was withdrawn (does the holder run a version with handovers? is ${to} running?).`
  );
}

export function invalidWaitMessage(value: string): string {
  return `Invalid --wait "${value}": give milliseconds, a whole number above 0 (default 30000).`;
}

export function resignedMessage(election: string, holder: string, term: number, remainingMs: number): string {
  return (
    `Resigned "${election}" (term ${term}, holder ${holder}): the holder steps down at its next renewal; ` +
    `another candidate may take over once the lease expires, in ${Math.max(0, remainingMs)} ms.`
  );
}
