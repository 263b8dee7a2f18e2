// User-facing texts of the testing entry point.

export function grantTimeoutMessage(election: string, timeoutMs: number): string {
  return (
    `LeaderElectionTesting.grant('${election}') did not lead within ${timeoutMs} ms. The elections run ` +
    `from application bootstrap: call await moduleRef.init() (or app.init()) first, and keep real timers ` +
    `(jest.useFakeTimers() stops them).`
  );
}

export function revokeTimeoutMessage(election: string, timeoutMs: number): string {
  return (
    `LeaderElectionTesting.revoke('${election}') still led after ${timeoutMs} ms: keep real timers ` +
    `(jest.useFakeTimers() stops the renewals that notice the revocation).`
  );
}

export function unknownTestingElectionMessage(election: string, elections: readonly string[]): string {
  return (
    `LeaderElectionTesting: unknown election "${election}". Name it in ` +
    `LeaderElectionTestingModule.forRoot({ elections: [${elections.map((name) => `'${name}'`).join(', ')}, '${election}'] }).`
  );
}
