import { LeaseAdmin, type JobStatus, type LeaseStatus, type RunStatus } from '../store/lease-admin';
import { DEFAULT_RUNS_TABLE } from '../store/runs-table';
import type { TermRow } from '../store/terms-store';
import { DEFAULT_TERMS_TABLE } from '../store/terms-table';
import { LeaseStoreError } from '../store/lease-store';
import { createLeaseTableSql, DEFAULT_LEASE_TABLE, isValidTableName } from '../store/lease-table';
import { redactSecrets } from '../store/redact';
import {
  CLI_NAME,
  DEFAULT_CLI_LIMIT,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  handedOverMessage,
  handoverTimedOutMessage,
  HELP,
  invalidLimitMessage,
  invalidTableMessage,
  invalidWaitMessage,
  missingValueMessage,
  NO_URL_MESSAGE,
  noSuchElectionMessage,
  notHeldMessage,
  operandUsageMessage,
  resignedMessage,
  resignUsageMessage,
  sideTableMissingMessage,
  tableMissingMessage,
  takenByOtherMessage,
  unknownCommandMessage,
  unknownOptionMessage,
} from './cli.messages';

/** Where the CLI writes (the process's streams, or a test's buffers). */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

interface ParsedArgs {
  readonly command: string | undefined;
  readonly operands: readonly string[];
  readonly url: string | undefined;
  readonly table: string;
  readonly termsTable: string;
  readonly runsTable: string;
  readonly limit: number;
  readonly json: boolean;
  readonly help: boolean;
  readonly to: string | undefined;
  readonly wait: string | undefined;
}

class UsageError extends Error {}

/** How long `resign --to` waits for the new term by default. */
const DEFAULT_HANDOVER_WAIT_MS = 30_000;

const COMMANDS = ['status', 'resign', 'history', 'runs', 'jobs', 'migrate', 'sql'];
/** Commands that take one optional operand, and what it names. */
const OPTIONAL_OPERAND: Readonly<Record<string, string>> = { history: 'election', runs: 'job' };

function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const positional: string[] = [];
  let url = env.MYSQL_URL || undefined;
  let table = DEFAULT_LEASE_TABLE;
  let termsTable = DEFAULT_TERMS_TABLE;
  let runsTable = DEFAULT_RUNS_TABLE;
  let limit = DEFAULT_CLI_LIMIT;
  let json = false;
  let help = false;
  let to: string | undefined;
  let wait: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '') throw new UsageError(missingValueMessage(flag));
      return next;
    };
    if (flag === '--url') url = value();
    else if (flag === '--table') table = value();
    else if (flag === '--terms-table') termsTable = value();
    else if (flag === '--runs-table') runsTable = value();
    else if (flag === '--limit') {
      const text = value();
      limit = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
      if (!(limit >= 1 && limit <= 100_000)) throw new UsageError(invalidLimitMessage(text));
    } else if (flag === '--to') to = value();
    else if (flag === '--wait') wait = value();
    else if (flag === '--json') json = true;
    else if (flag === '-h' || flag === '--help') help = true;
    else if (flag.startsWith('-')) throw new UsageError(unknownOptionMessage(flag));
    else positional.push(arg);
  }
  return {
    command: positional[0],
    operands: positional.slice(1),
    url,
    table,
    termsTable,
    runsTable,
    limit,
    json,
    help,
    to,
    wait,
  };
}

/**
 * Runs one CLI command and resolves its exit code: 0 done, 1 failed, 2 usage error. Every text that
 * leaves it went through `redactSecrets` with the connection's password.
 */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: CliOutput,
): Promise<number> {
  let secrets: readonly string[] = [];
  const safe = (text: string) => redactSecrets(text, secrets);
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, env);
  } catch (error) {
    out.stderr(safe((error as Error).message));
    return EXIT_USAGE;
  }
  if (args.help || args.command === 'help') {
    out.stdout(HELP);
    return EXIT_OK;
  }
  const { command } = args;
  if (command === undefined) {
    out.stderr(HELP);
    return EXIT_USAGE;
  }
  if (!COMMANDS.includes(command)) return usage(out, unknownCommandMessage(command));
  if (args.to !== undefined && command !== 'resign') return usage(out, unknownOptionMessage('--to'));
  if (args.wait !== undefined && args.to === undefined) return usage(out, unknownOptionMessage('--wait'));
  const waitMs = args.wait === undefined ? DEFAULT_HANDOVER_WAIT_MS : Number(args.wait);
  if (!Number.isInteger(waitMs) || waitMs <= 0) return usage(out, invalidWaitMessage(String(args.wait)));
  for (const [option, name] of [
    ['--table', args.table],
    ['--terms-table', args.termsTable],
    ['--runs-table', args.runsTable],
  ]) {
    if (!isValidTableName(name)) return usage(out, invalidTableMessage(name, option));
  }
  if (command === 'resign' && args.operands.length !== 1) return usage(out, resignUsageMessage());
  if (command in OPTIONAL_OPERAND) {
    if (args.operands.length > 1) return usage(out, operandUsageMessage(command, OPTIONAL_OPERAND[command]));
  } else if (command !== 'resign' && args.operands.length > 0) {
    return usage(out, unknownCommandMessage(`${command} ${args.operands.join(' ')}`));
  }

  if (command === 'sql') {
    const text = createLeaseTableSql(args.table);
    out.stdout(args.json ? JSON.stringify({ table: args.table, sql: text }) : `${text};`);
    return EXIT_OK;
  }
  if (!args.url) return usage(out, NO_URL_MESSAGE);

  const admin = new LeaseAdmin(args.url, args.table, undefined, {
    terms: args.termsTable,
    runs: args.runsTable,
  });
  secrets = admin.secrets;
  try {
    switch (command) {
      case 'status':
        return status(await admin.status(), args, out);
      case 'history':
        return history(await admin.history(args.operands[0], args.limit), args, out);
      case 'runs':
        return runs(await admin.runsOf(args.operands[0], args.limit), args, out);
      case 'jobs':
        return jobs(await admin.jobs(), args, out);
      case 'migrate':
        await admin.migrate();
        out.stdout(
          args.json
            ? JSON.stringify({
                table: args.table,
                termsTable: args.termsTable,
                runsTable: args.runsTable,
                migrated: true,
              })
            : `Lease table \`${args.table}\`, terms table \`${args.termsTable}\` and runs table ` +
                `\`${args.runsTable}\` are ready.`,
        );
        return EXIT_OK;
      default:
        if (args.to !== undefined) return await handOver(admin, args.operands[0], args.to, waitMs, args, out);
        return await resign(admin, args.operands[0], args, out);
    }
  } catch (error) {
    out.stderr(safe(failureMessage(error, args)));
    return EXIT_FAILURE;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

function usage(out: CliOutput, message: string): number {
  out.stderr(message);
  return EXIT_USAGE;
}

function failureMessage(error: unknown, args: ParsedArgs): string {
  if (error instanceof LeaseStoreError && error.code === 1146) {
    if (args.command === 'history') {
      return sideTableMissingMessage('--terms-table', args.termsTable, 'leadership history');
    }
    if (args.command === 'runs' || args.command === 'jobs') {
      return sideTableMissingMessage('--runs-table', args.runsTable, 'runs');
    }
    return tableMissingMessage(args.table);
  }
  return error instanceof Error ? error.message : String(error);
}

/** Lines of cells as aligned columns, the first line the header. */
function columns(table: readonly (readonly string[])[]): string {
  const widths = table[0].map((_, column) => Math.max(...table.map((line) => line[column].length)));
  return table
    .map((line) =>
      line
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Epoch ms as `YYYY-MM-DD hh:mm:ss.sss` UTC, or `-`. */
function utc(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A `DATETIME(6)` text trimmed to milliseconds, or `-`. */
function utcText(text: string | null): string {
  return text === null ? '-' : text.slice(0, 23);
}

function history(rows: readonly TermRow[], args: ParsedArgs, out: CliOutput): number {
  const election = args.operands[0];
  if (args.json) {
    out.stdout(
      JSON.stringify({
        table: args.termsTable,
        ...(election === undefined ? {} : { election }),
        terms: rows.map((row) => ({
          election: row.election,
          term: row.term,
          holder: row.holder,
          acquiredAt: new Date(row.acquiredAt).toISOString(),
          endedAt: row.endedAt === null ? null : new Date(row.endedAt).toISOString(),
          endReason: row.endReason,
        })),
      }),
    );
    return EXIT_OK;
  }
  if (rows.length === 0) {
    out.stdout(
      election === undefined
        ? `No terms recorded in \`${args.termsTable}\` yet.`
        : `No terms recorded for "${election}" in \`${args.termsTable}\` (names are case-sensitive).`,
    );
    return EXIT_OK;
  }
  out.stdout(
    columns([
      ['ELECTION', 'TERM', 'HOLDER', 'ACQUIRED (UTC)', 'ENDED (UTC)', 'REASON'],
      ...rows.map((row) => [
        row.election,
        String(row.term),
        row.holder,
        utc(row.acquiredAt),
        utc(row.endedAt),
        row.endReason ?? 'open',
      ]),
    ]),
  );
  return EXIT_OK;
}

function runs(rows: readonly RunStatus[], args: ParsedArgs, out: CliOutput): number {
  const job = args.operands[0];
  if (args.json) {
    out.stdout(JSON.stringify({ table: args.runsTable, ...(job === undefined ? {} : { job }), runs: rows }));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    out.stdout(
      job === undefined
        ? `No runs recorded in \`${args.runsTable}\` yet.`
        : `No runs recorded for job "${job}" in \`${args.runsTable}\` (${CLI_NAME} jobs lists the names).`,
    );
    return EXIT_OK;
  }
  out.stdout(
    columns([
      ['JOB', 'OCCURRENCE (UTC)', 'ATTEMPT', 'OUTCOME', 'TERM', 'HOLDER', 'ERROR'],
      ...rows.map((row) => [
        row.job,
        utcText(row.occurrence),
        String(row.attempt),
        row.outcome,
        String(row.term),
        row.holder,
        row.error === null ? '' : row.error.replace(/\s+/g, ' ').slice(0, 80),
      ]),
    ]),
  );
  return EXIT_OK;
}

function jobs(rows: readonly JobStatus[], args: ParsedArgs, out: CliOutput): number {
  if (args.json) {
    out.stdout(JSON.stringify({ table: args.runsTable, jobs: rows }));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    out.stdout(`No jobs recorded in \`${args.runsTable}\` yet.`);
    return EXIT_OK;
  }
  out.stdout(
    columns([
      ['JOB', 'LAST OCCURRENCE (UTC)', 'LAST OUTCOME', 'RUNS', 'FAILED', 'MISSED'],
      ...rows.map((row) => [
        row.job,
        utcText(row.lastOccurrence),
        row.lastOutcome,
        String(row.runs),
        String(row.failed),
        String(row.missed),
      ]),
    ]),
  );
  return EXIT_OK;
}

function status(rows: readonly LeaseStatus[], args: ParsedArgs, out: CliOutput): number {
  if (args.json) {
    out.stdout(JSON.stringify({ table: args.table, elections: rows }));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    out.stdout(`No elections in \`${args.table}\` yet.`);
    return EXIT_OK;
  }
  const table = [
    ['ELECTION', 'HOLDER', 'TERM', 'LEASE', 'REMAINING'],
    ...rows.map((row) => [
      row.election,
      row.resigned ? '(resigned)' : (row.holder ?? '-'),
      String(row.term),
      row.valid ? 'valid' : 'expired',
      row.valid ? `${(row.remainingMs / 1000).toFixed(1)}s` : '-',
    ]),
  ];
  out.stdout(columns(table));
  return EXIT_OK;
}

async function handOver(
  admin: LeaseAdmin,
  election: string,
  to: string,
  waitMs: number,
  args: ParsedArgs,
  out: CliOutput,
): Promise<number> {
  const result = await admin.handOver(election, to, waitMs);
  if (args.json) out.stdout(JSON.stringify({ election, to, ...result }));
  switch (result.outcome) {
    case 'handed-over':
      if (!args.json) out.stdout(handedOverMessage(election, to, result.term, result.elapsedMs));
      return EXIT_OK;
    case 'taken-by-other':
      if (!args.json) out.stderr(takenByOtherMessage(election, to, result.holder, result.term));
      return EXIT_FAILURE;
    case 'timed-out':
      if (!args.json) out.stderr(handoverTimedOutMessage(election, to, result.from, waitMs));
      return EXIT_FAILURE;
    case 'not-held':
      if (!args.json) out.stderr(notHeldMessage(election));
      return EXIT_FAILURE;
    default:
      if (!args.json) out.stderr(noSuchElectionMessage(election, args.table));
      return EXIT_FAILURE;
  }
}

async function resign(
  admin: LeaseAdmin,
  election: string,
  args: ParsedArgs,
  out: CliOutput,
): Promise<number> {
  const result = await admin.resign(election);
  if (args.json) out.stdout(JSON.stringify({ election, ...result }));
  switch (result.outcome) {
    case 'resigned':
      if (!args.json) out.stdout(resignedMessage(election, result.holder, result.term, result.remainingMs));
      return EXIT_OK;
    case 'not-held':
      if (!args.json) out.stdout(notHeldMessage(election));
      return EXIT_OK;
    default:
      if (!args.json) out.stderr(noSuchElectionMessage(election, args.table));
      return EXIT_FAILURE;
  }
}
