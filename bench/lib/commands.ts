/**
 * The command loop of a bench child process: calls `onCommand` with each line the bench writes on the
 * child's stdin (trimmed), and exits the process when stdin ends, so that a crashed bench never leaves
 * children behind. Compiled with the children (bench/lib/build.ts): it imports nothing.
 */
export function readCommands(onCommand: (command: string) => void): void {
  let buffer = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const command = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      onCommand(command);
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
