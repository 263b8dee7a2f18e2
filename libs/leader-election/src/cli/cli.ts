import { LeaseAdmin, type LeaseStatus } from '../store/lease-admin';
import { LeaseStoreError } from '../store/lease-store';
import { createLeaseTableSql, DEFAULT_LEASE_TABLE, isValidTableName } from '../store/lease-table';
import { redactSecrets } from '../store/redact';
import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  handedOverMessage,
  handoverTimedOutMessage,
  HELP,
  invalidTableMessage,
  invalidWaitMessage,
  missingValueMessage,
  NO_URL_MESSAGE,
  noSuchElectionMessage,
  NOT_AVAILABLE_YET,
  notAvailableMessage,
  notHeldMessage,
  resignedMessage,
  resignUsageMessage,
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
  readonly json: boolean;
  readonly help: boolean;
  readonly to: string | undefined;
  readonly wait: string | undefined;
}

class UsageError extends Error {}

/** How long `resign --to` waits for the new term by default. */
const DEFAULT_HANDOVER_WAIT_MS = 30_000;

const COMMANDS = ['status', 'resign', 'migrate', 'sql'];

function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const positional: string[] = [];
  let url = env.MYSQL_URL || undefined;
  let table = DEFAULT_LEASE_TABLE;
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
    else if (flag === '--to') to = value();
    else if (flag === '--wait') wait = value();
    else if (flag === '--json') json = true;
    else if (flag === '-h' || flag === '--help') help = true;
    else if (flag.startsWith('-')) throw new UsageError(unknownOptionMessage(flag));
    else positional.push(arg);
  }
  return { command: positional[0], operands: positional.slice(1), url, table, json, help, to, wait };
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
  if (command in NOT_AVAILABLE_YET) return usage(out, notAvailableMessage(command));
  if (!COMMANDS.includes(command)) return usage(out, unknownCommandMessage(command));
  if (args.to !== undefined && command !== 'resign') return usage(out, unknownOptionMessage('--to'));
  if (args.wait !== undefined && args.to === undefined) return usage(out, unknownOptionMessage('--wait'));
  const waitMs = args.wait === undefined ? DEFAULT_HANDOVER_WAIT_MS : Number(args.wait);
  if (!Number.isInteger(waitMs) || waitMs <= 0) return usage(out, invalidWaitMessage(String(args.wait)));
  if (!isValidTableName(args.table)) return usage(out, invalidTableMessage(args.table));
  if (command === 'resign' && args.operands.length !== 1) return usage(out, resignUsageMessage());
  if (command !== 'resign' && args.operands.length > 0) {
    return usage(out, unknownCommandMessage(`${command} ${args.operands.join(' ')}`));
  }

  if (command === 'sql') {
    const text = createLeaseTableSql(args.table);
    out.stdout(args.json ? JSON.stringify({ table: args.table, sql: text }) : `${text};`);
    return EXIT_OK;
  }
  if (!args.url) return usage(out, NO_URL_MESSAGE);

  const admin = new LeaseAdmin(args.url, args.table);
  secrets = admin.secrets;
  try {
    switch (command) {
      case 'status':
        return status(await admin.status(), args, out);
      case 'migrate':
        await admin.migrate();
        out.stdout(
          args.json
            ? JSON.stringify({ table: args.table, migrated: true })
            : `Lease table \`${args.table}\` is ready.`,
        );
        return EXIT_OK;
      default:
        if (args.to !== undefined) return await handOver(admin, args.operands[0], args.to, waitMs, args, out);
        return await resign(admin, args.operands[0], args, out);
    }
  } catch (error) {
    out.stderr(safe(failureMessage(error, args.table)));
    return EXIT_FAILURE;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

function usage(out: CliOutput, message: string): number {
  out.stderr(message);
  return EXIT_USAGE;
}

function failureMessage(error: unknown, table: string): string {
  if (error instanceof LeaseStoreError && error.code === 1146) return tableMissingMessage(table);
  return error instanceof Error ? error.message : String(error);
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
  const widths = table[0].map((_, column) => Math.max(...table.map((line) => line[column].length)));
  out.stdout(
    table
      .map((line) =>
        line
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n'),
  );
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
