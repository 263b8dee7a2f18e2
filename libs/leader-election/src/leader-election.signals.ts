/** The signals that end a process by convention (orchestrators, `docker stop`, Ctrl-C). */
export const HANDOVER_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Starts the handover on SIGTERM or SIGINT itself, ahead of every other listener of that signal: Nest's
 * shutdown sequence (`app.enableShutdownHooks()`) runs the `onModuleDestroy` hooks of other modules
 * first, one module after the other, and a slow one would hold the release up.
 *
 * Listens only to a signal the process already handles (some other listener is there, or comes later):
 * it never turns a signal that would end the process into one that does not. Should the other listeners
 * be gone when the signal comes, it raises the signal again once its own listener is off, as if it had
 * never listened.
 */
export class HandoverSignals {
  private readonly listening = new Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>();
  private watching = false;

  constructor(private readonly onSignal: () => void) {}

  /** Listens from now on, until `stop()` or the first signal. */
  start(): void {
    if (this.watching) return;
    this.watching = true;
    for (const signal of HANDOVER_SIGNALS) {
      if (process.listenerCount(signal) > 0) this.listen(signal);
    }
    process.on('newListener', this.onNewListener);
  }

  /** Stops listening (the app shuts down by another path, or the signal came). */
  stop(): void {
    if (!this.watching) return;
    this.watching = false;
    process.removeListener('newListener', this.onNewListener);
    for (const [signal, listener] of this.listening) process.removeListener(signal, listener);
    this.listening.clear();
  }

  /** Called before another listener is added: this one goes first. */
  private readonly onNewListener = (event: string | symbol): void => {
    if (typeof event === 'string' && (HANDOVER_SIGNALS as readonly string[]).includes(event)) {
      this.listen(event as NodeJS.Signals);
    }
  };

  private listen(signal: NodeJS.Signals): void {
    if (this.listening.has(signal)) return;
    const listener = (received: NodeJS.Signals): void => {
      this.stop();
      if (process.listenerCount(received) === 0) {
        // Nobody else handles it any more: the signal does what it would have done without this listener.
        process.kill(process.pid, received);
        return;
      }
      this.onSignal();
    };
    this.listening.set(signal, listener);
    process.prependListener(signal, listener);
  }
}
