import { sql, type Kysely } from 'kysely';
import { classifyMysqlError, type DriverErrorLike } from './mysql-errors';

/**
 * Reads this holder's lease row with a shared lock inside the caller's own transaction. While the lock is
 * held, a takeover's UPDATE waits for the transaction to end, so writes in it commit only under this
 * term, even from a process that was paused and does not know it yet. Resolves `true` when the lease is
 * still this holder's, unexpired on the database's clock.
 */
export async function lockLeaseRow(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
  trx: Kysely<any>,
  tableName: string,
  name: string,
  holder: string,
  term: number,
): Promise<boolean> {
  const { rows } = await sql`
    SELECT term FROM ${sql.table(tableName)}
    WHERE name = ${name} AND holder = ${holder} AND term = ${term}
      AND expires_at > UTC_TIMESTAMP(6)
    LOCK IN SHARE MODE`.execute(trx);
  return rows.length === 1;
}

/** True when the error says the caller's connection cannot see the lease table (wrong database, no grant). */
export function isLeaseTableInvisible(error: unknown): boolean {
  const errno = (error as DriverErrorLike | undefined)?.errno;
  return errno === 1146 || errno === 1142 || errno === 1049 || errno === 1044;
}

/** True for errors that say the statement was refused by configuration rather than by the lease. */
export function isConfigurationError(error: unknown): boolean {
  return classifyMysqlError((error ?? {}) as DriverErrorLike) === 'configuration';
}

/**
 * MariaDB ends a transaction left idle longer than `idle_transaction_timeout` by closing its connection.
 * Set on a fenced transaction's connection, it bounds how long a paused or partitioned holder can keep
 * its shared lock, and so keep a takeover waiting. Returns a function restoring the previous value, or
 * `undefined` where the server has no such variable (MySQL: there, `wait_timeout` is the bound). The
 * session value goes back to the server's default afterwards.
 */
export async function limitIdleTransaction(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
  conn: Kysely<any>,
  seconds: number,
): Promise<(() => Promise<void>) | undefined> {
  try {
    await sql`SET SESSION idle_transaction_timeout = ${Math.max(1, Math.ceil(seconds))}`.execute(conn);
  } catch (error) {
    if ((error as DriverErrorLike).errno === 1193) return undefined; // unknown variable: not MariaDB
    throw error;
  }
  return async () => {
    await sql`SET SESSION idle_transaction_timeout = DEFAULT`.execute(conn);
  };
}
