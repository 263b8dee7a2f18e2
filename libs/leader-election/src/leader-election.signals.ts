/** The signals that end a process by convention (orchestrators, `docker stop`, Ctrl-C). */
export const HANDOVER_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Every started `HandoverSignals` of the process (one per application): one listener per signal, and one
 * `newListener` hook, serve them all, so that many applications in one process add no more listeners.
 */
const watchers = new Map<HandoverSignals, () => void>();
const listening = new Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>();

function isHandoverSignal(event: string | symbol): event is NodeJS.Signals {
  return typeof event === 'string' && (HANDOVER_SIGNALS as readonly string[]).includes(event);
}

/** Puts the shared listener of `signal` ahead of every other one. */
function listen(signal: NodeJS.Signals): void {
  if (listening.has(signal)) return;
  const listener = (received: NodeJS.Signals): void => {
    const fired = [...watchers.values()];
    watchers.clear();
    stopListening();
    if (process.listenerCount(received) === 0) {
      // Nobody else handles it any more: the signal does what it would have done without this listener.
      process.kill(process.pid, received);
      return;
    }
    for (const onSignal of fired) onSignal();
  };
  listening.set(signal, listener);
  process.prependListener(signal, listener);
}

/** Called before another listener is added: the shared one goes first. */
function onNewListener(event: string | symbol): void {
  if (isHandoverSignal(event)) listen(event);
}

function stopListening(): void {
  process.removeListener('newListener', onNewListener);
  for (const [signal, listener] of listening) process.removeListener(signal, listener);
  listening.clear();
}

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
  constructor(private readonly onSignal: () => void) {}

  /** Listens from now on, until `stop()` or the first signal. */
  start(): void {
    if (watchers.has(this)) return;
    watchers.set(this, this.onSignal);
    if (watchers.size > 1) return;
    for (const signal of HANDOVER_SIGNALS) {
      if (process.listenerCount(signal) > 0) listen(signal);
    }
    process.on('newListener', onNewListener);
  }

  /** Stops listening (the app shuts down by another path, or the signal came). */
  stop(): void {
    if (!watchers.delete(this)) return;
    if (watchers.size === 0) stopListening();
  }
}
