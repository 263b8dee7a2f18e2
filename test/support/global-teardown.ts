/** Stops the throwaway server when global setup started one. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__LEADER_ELECTION_THROWAWAY__?.stop();
}
