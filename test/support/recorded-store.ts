/** A logger that drops every line (for electors whose log a test does not look at). */
export const QUIET_LOGGER = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Wraps a real store so that every method called on it is recorded by name: in call order (`calls`) and
 * counted per name (`counts`). The calls go through to the store unchanged.
 */
export function recordedStore<S extends object>(
  store: S,
): { store: S; calls: string[]; counts: Record<string, number> } {
  const calls: string[] = [];
  const counts: Record<string, number> = {};
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      return (...args: unknown[]) => {
        calls.push(key);
        counts[key] = (counts[key] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls, counts };
}
