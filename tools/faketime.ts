import { existsSync } from 'node:fs';

// Where Debian's libfaketime lives; preloaded rather than through the `faketime` command, which forks (a
// signal sent to it would not reach node).
const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
];

/** The environment that shifts a process's clocks by `offset` (e.g. '+1h') through libfaketime. */
export function faketimeEnv(offset: string): Record<string, string> {
  const library = LIBFAKETIME.find((path) => existsSync(path));
  if (!library) {
    throw new Error('libfaketime is not installed. Install it with: sudo apt-get install -y faketime');
  }
  return { LD_PRELOAD: library, FAKETIME: offset };
}
