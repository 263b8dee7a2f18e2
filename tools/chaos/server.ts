import { spawn, type ChildProcess } from 'node:child_process';
import { canConnect, startThrowawayServer } from '../mysql-server';

/** A throwaway server the chaos harness may crash and restart on the same port and data directory. */
export interface ChaosServer {
  readonly url: string;
  readonly port: number;
  /** SIGKILLs the server and starts it again on its data; resolves once it answers (crash recovery done). */
  crashAndRestart(): Promise<void>;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
  /** SIGKILLs the running server at once (synchronous: for an `exit` handler); its data directory stays. */
  killNow(): void;
  /** Every server process id it started (one per start). */
  readonly pids: readonly number[];
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));

/**
 * Starts a throwaway server (tools/mysql-server.ts, never the shared one). A restart runs the same binary
 * with the same arguments (data directory, port, socket) as the first start.
 */
export async function startChaosServer(): Promise<ChaosServer> {
  const base = await startThrowawayServer();
  const file = base.process.spawnfile;
  const args = base.process.spawnargs.slice(1);
  const rootUrl = `mysql://root@127.0.0.1:${base.port}/`;
  let current: ChildProcess = base.process;
  const pids: number[] = base.process.pid ? [base.process.pid] : [];

  const stopCurrent = async () => {
    if (current === base.process) return; // base.stop() handles it
    const done = exited(current);
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };

  return {
    url: base.url,
    port: base.port,
    pids,
    async crashAndRestart() {
      const done = exited(current);
      current.kill('SIGKILL');
      await done;
      current = spawn(file, args, { stdio: 'ignore' });
      if (current.pid) pids.push(current.pid);
      const deadline = Date.now() + 60_000;
      while (!(await canConnect(rootUrl, 500))) {
        if (current.exitCode !== null)
          throw new Error(`${file} exited with code ${current.exitCode} at restart.`);
        if (Date.now() > deadline) throw new Error(`${file} did not answer within 60 s of its restart.`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    killNow() {
      if (current.exitCode === null && current.signalCode === null) current.kill('SIGKILL');
    },
    async stop() {
      await stopCurrent();
      await base.stop();
    },
  };
}
