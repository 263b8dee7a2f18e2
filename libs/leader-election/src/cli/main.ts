#!/usr/bin/env node
// The `nestjs-leader-election` command (package.json `bin`): `npx nestjs-leader-election --help`.
import { runCli } from './cli';

void runCli(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // runCli catches every failure it can name; this is a bug, printed without the connection settings.
    process.stderr.write(`Unexpected failure: ${error instanceof Error ? error.name : 'error'}\n`);
    process.exitCode = 1;
  },
);
