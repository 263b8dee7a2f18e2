import { sql, type Kysely } from 'kysely';
import { classifyMysqlError, isOutsidePrimaryComponent, type DriverErrorLike } from './mysql-errors';

/**
 * Fences the caller's own transaction on this holder's lease row. Resolves `true` when the lease is still
 * this holder's, unexpired on the database's clock.
 *
 * - One server (MariaDB, MySQL): reads the row with a shared lock. While the lock is held, a takeover's
 *   UPDATE waits for the transaction to end, so writes in it commit only under this term, even from a
 *   process that was paused and does not know it yet.
 * - Galera (`wsrep_on`): a lock taken on one node does not stop a takeover committed through another, and
 *   certification compares only the rows transactions write. So the fence writes the row (`fence_seq =
 *   fence_seq + 1`, guarded like a renewal): a takeover and the fenced transaction then both write the
 *   lease row, and certification aborts whichever of the two comes second without having seen the other.
 */
export async function lockLeaseRow(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
  trx: Kysely<any>,
  tableName: string,
  name: string,
  holder: string,
  term: number,
): Promise<boolean> {
  if (await isGalera(trx)) {
    const { numAffectedRows } = await sql`
      UPDATE ${sql.table(tableName)} SET fence_seq = fence_seq + 1
      WHERE name = ${name} AND holder = ${holder} AND term = ${term}
        AND expires_at > UTC_TIMESTAMP(6)`.execute(trx);
    return Number(numAffectedRows ?? 0) === 1;
  }
  const { rows } = await sql`
    SELECT term FROM ${sql.table(tableName)}
    WHERE name = ${name} AND holder = ${holder} AND term = ${term}
      AND expires_at > UTC_TIMESTAMP(6)
    LOCK IN SHARE MODE`.execute(trx);
  return rows.length === 1;
}

// Whether a Kysely instance reaches a Galera node, asked once per instance. Keyed by its dialect adapter,
// which the instance's transactions and single-connection views share.
const galeraByAdapter = new WeakMap<object, boolean>();

/** True when `db` (a Kysely, a transaction or a connection of it) talks to a Galera node (`@@wsrep_on` = 1). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
export async function isGalera(db: Kysely<any>): Promise<boolean> {
  const key = db.getExecutor().adapter as object;
  const known = galeraByAdapter.get(key);
  if (known !== undefined) return known;
  let galera: boolean;
  try {
    const { rows } = await sql<{ wsrep: unknown }>`SELECT @@wsrep_on AS wsrep`.execute(db);
    galera = Number(rows[0]?.wsrep) === 1;
  } catch (error) {
    if ((error as DriverErrorLike).errno !== 1193) throw error; // unknown variable: MySQL without wsrep
    galera = false;
  }
  galeraByAdapter.set(key, galera);
  return galera;
}

/** Already known to reach a Galera node (without asking the server): for classifying a failed commit. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
export function knownGalera(db: Kysely<any>): boolean {
  return galeraByAdapter.get(db.getExecutor().adapter as object) === true;
}

/**
 * True for the errors with which a Galera node ends a fenced transaction without applying it: 1213 (a
 * conflicting write set, such as a takeover through another node, won certification or brute-force aborted
 * it), 1047 and 1180 "Not connected to Primary Component" (the node is not in the primary component).
 */
export function isGaleraAbort(error: unknown): boolean {
  const driverError = (error ?? {}) as DriverErrorLike;
  return driverError.errno === 1213 || isOutsidePrimaryComponent(driverError);
}

/** True when the error says the caller's connection cannot see the lease table (wrong database, no grant). */
export function isLeaseTableInvisible(error: unknown): boolean {
  const errno = (error as DriverErrorLike | undefined)?.errno;
  return errno === 1146 || errno === 1142 || errno === 1049 || errno === 1044;
}

// Which servers know `idle_transaction_timeout` (MariaDB) — asked once per Kysely instance.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
const knowsIdleTransactionTimeout = new WeakMap<Kysely<any>, boolean>();

/**
 * Bounds how long a paused or cut-off holder of a fenced transaction can keep its shared lock, and so keep
 * a takeover waiting: the server closes the connection (rolling the transaction back) once it sat idle
 * longer than `seconds`. MariaDB has `idle_transaction_timeout` for exactly that; MySQL has only
 * `wait_timeout` (idle connection), which is set on both, since during the fenced transaction the two
 * mean the same. Returns a function that restores the session's previous values (not the server
 * defaults: the caller may have set its own).
 */
export async function limitIdleTransaction(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
  conn: Kysely<any>,
  seconds: number,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any user database type
  cacheKey: Kysely<any> = conn,
): Promise<() => Promise<void>> {
  const limit = Math.max(1, Math.ceil(seconds));
  if (knowsIdleTransactionTimeout.get(cacheKey) !== false) {
    try {
      await sql`SET @le_prev_wait = @@SESSION.wait_timeout,
                    @le_prev_idle = @@SESSION.idle_transaction_timeout,
                    SESSION wait_timeout = ${limit}, SESSION idle_transaction_timeout = ${limit}`.execute(
        conn,
      );
      knowsIdleTransactionTimeout.set(cacheKey, true);
      return async () => {
        await sql`SET SESSION wait_timeout = @le_prev_wait,
                      SESSION idle_transaction_timeout = @le_prev_idle`.execute(conn);
      };
    } catch (error) {
      if ((error as DriverErrorLike).errno !== 1193) throw error; // unknown variable: MySQL
      knowsIdleTransactionTimeout.set(cacheKey, false);
    }
  }
  await sql`SET @le_prev_wait = @@SESSION.wait_timeout, SESSION wait_timeout = ${limit}`.execute(conn);
  return async () => {
    await sql`SET SESSION wait_timeout = @le_prev_wait`.execute(conn);
  };
}

/** True for driver errors that say the connection is gone (closed by the server, reset, timed out). */
export function isConnectionLost(error: unknown): boolean {
  const driverError = (error ?? {}) as DriverErrorLike;
  if (driverError.errno === undefined && driverError.code === undefined && driverError.fatal !== true) {
    return false;
  }
  const kind = classifyMysqlError(driverError);
  return kind === 'outcome-unknown' || kind === 'unreachable';
}
