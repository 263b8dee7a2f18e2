import { MEMBER_INFIX } from '../elector/balanced-group';
import type { LeaseRow, LeaseStore } from '../store/lease-store';

/** The holder the testing store writes when the test takes leadership away: "another instance". */
export const OTHER_INSTANCE = '(another instance)';

/** How long the other instance's lease lasts (finite: timers beyond 2^31 ms fire at once). */
const OTHER_LEASE_MS = 24 * 60 * 60 * 1000;

/** `expires_at` of a released or never-acquired row. */
const EXPIRED = 0;

interface Row {
  holder: string;
  term: number;
  expiresAt: number;
}

/**
 * The lease table in memory, with the statements' semantics (compare-and-swap on the term, expiry on
 * one clock), for `LeaderElectionTestingModule`. The test decides who holds each election: `grant()`
 * frees the lease so that this app acquires it at its next read, `revoke()` hands it to "another
 * instance", so that this app's next renewal fails. Nothing here waits; one instance per app.
 */
export class TestingLeaseStore implements LeaseStore {
  private readonly rows = new Map<string, Row>();
  /** Elections this app may hold; the others are held by another instance. */
  private readonly granted = new Set<string>();

  constructor(elections: readonly string[], leader: boolean) {
    if (leader) for (const election of elections) this.granted.add(election);
  }

  /** Lets this app acquire `election` at its next read. */
  grant(election: string): void {
    this.granted.add(election);
    const row = this.rows.get(election);
    if (row?.holder === OTHER_INSTANCE) row.expiresAt = EXPIRED;
  }

  /** Gives `election` to another instance with a new term: this app's next renewal fails. */
  revoke(election: string): void {
    this.granted.delete(election);
    const row = this.rows.get(election);
    if (row && row.holder !== OTHER_INSTANCE) this.takeOver(row);
  }

  ensureSchema(): Promise<void> {
    return Promise.resolve();
  }

  ensureRow(name: string): Promise<void> {
    if (!this.rows.has(name)) {
      const row: Row = { holder: '', term: 0, expiresAt: EXPIRED };
      // A balanced group's member row is always this app's: it is the group's only member.
      if (!this.granted.has(name) && !name.includes(MEMBER_INFIX)) this.takeOver(row);
      this.rows.set(name, row);
    }
    return Promise.resolve();
  }

  read(name: string): Promise<LeaseRow | undefined> {
    const row = this.rows.get(name);
    return Promise.resolve(row && toLeaseRow(row, Date.now()));
  }

  readPrefix(prefix: string): Promise<Map<string, LeaseRow>> {
    const now = Date.now();
    const rows = new Map<string, LeaseRow>();
    for (const [name, row] of this.rows) if (name.startsWith(prefix)) rows.set(name, toLeaseRow(row, now));
    return Promise.resolve(rows);
  }

  readMany(names: readonly string[]): Promise<Map<string, LeaseRow>> {
    const now = Date.now();
    const rows = new Map<string, LeaseRow>();
    for (const name of names) {
      const row = this.rows.get(name);
      if (row) rows.set(name, toLeaseRow(row, now));
    }
    return Promise.resolve(rows);
  }

  acquire(
    name: string,
    holder: string,
    observedTerm: number,
    leaseMs: number,
    newTerm = observedTerm + 1,
  ): Promise<boolean> {
    const row = this.rows.get(name);
    const now = Date.now();
    if (!row || row.term !== observedTerm || !(row.expiresAt <= now || row.holder === holder)) {
      return Promise.resolve(false);
    }
    Object.assign(row, { holder, term: newTerm, expiresAt: now + leaseMs });
    return Promise.resolve(true);
  }

  renew(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    return Promise.resolve(this.renewOne(name, holder, term, leaseMs, Date.now()));
  }

  renewMany(
    holder: string,
    leases: readonly { name: string; term: number }[],
    leaseMs: number,
  ): Promise<number> {
    const now = Date.now();
    const renewed = leases.filter(({ name, term }) => this.renewOne(name, holder, term, leaseMs, now));
    return Promise.resolve(renewed.length);
  }

  release(name: string, holder: string, term: number): Promise<boolean> {
    const row = this.rows.get(name);
    if (!row || row.holder !== holder || row.term !== term) return Promise.resolve(false);
    row.expiresAt = EXPIRED;
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private renewOne(name: string, holder: string, term: number, leaseMs: number, now: number): boolean {
    const row = this.rows.get(name);
    if (!row || row.holder !== holder || row.term !== term || row.expiresAt <= now) return false;
    row.expiresAt = now + leaseMs;
    return true;
  }

  private takeOver(row: Row): void {
    Object.assign(row, {
      holder: OTHER_INSTANCE,
      term: row.term + 1,
      expiresAt: Date.now() + OTHER_LEASE_MS,
    });
  }
}

function toLeaseRow(row: Row, now: number): LeaseRow {
  return {
    holder: row.holder,
    term: row.term,
    valid: row.expiresAt > now,
    remainingUs: (row.expiresAt - now) * 1000,
  };
}
