// The floor of a graceful handover on this machine: the library's handover protocol in a bare Node
// process (mysql2 only: no library, no Nest, no application), so that the handover rows can be read
// against what the database, the signal and two process wake-ups cost by themselves.
// Run by bench/lib/child.ts like bench/candidate.ts; used by bench/scenarios/handover.ts.
//
// Env: MYSQL_URL, TABLE (created by the bench: name, term, holder, expires_at), LOCK (the named lock).
// Prints {"type":"ready","candidateId":...} once connected. Commands on stdin, one per line:
//   `lead`: takes the row (next term, 10 s) and the named lock, as a leader holds them; {"type":"leading"}.
//   `wait`: blocks in GET_LOCK as a doorbell standby does, prints {"type":"waiting"} once the statement is
//   sent; when the lock comes, takes the row with one compare-and-swap on its other connection (the
//   library's acquireFree) and prints {"type":"granted","term":...}.
// SIGTERM: frees the row and the lock in one statement on the lock's session (the library's release at a
// signal) and exits once it is answered. Exits at once when stdin ends.
import { createConnection, type Connection } from 'mysql2';
import { readCommands } from './lib/commands';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`bench floor candidate: ${name} is required`);
  return value;
};
const now = (): number => performance.timeOrigin + performance.now();
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: now() })}\n`);
};

const url = env('MYSQL_URL');
const table = env('TABLE');
const lock = env('LOCK');
const me = `floor-${process.pid}`;

function query(conn: Connection, sql: string, params: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) =>
    conn.query(sql, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
}

async function connect(): Promise<Connection> {
  const conn = createConnection({ uri: url });
  await query(conn, 'SET SESSION autocommit = 1', []);
  return conn;
}

async function main(): Promise<void> {
  const [lease, bell] = await Promise.all([connect(), connect()]);
  process.on('SIGTERM', () => {
    void query(
      bell,
      `UPDATE \`${table}\` SET expires_at = '1970-01-01 00:00:01' + INTERVAL COALESCE(RELEASE_LOCK(?), 0) * 0 MICROSECOND WHERE name = 'floor' AND holder = ?`,
      [lock, me],
    ).finally(() => process.exit(0));
  });
  const commands: Record<string, () => Promise<void>> = {
    lead: async () => {
      await query(
        lease,
        `UPDATE \`${table}\` SET term = term + 1, holder = ?, expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 SECOND WHERE name = 'floor'`,
        [me],
      );
      await query(bell, 'SELECT GET_LOCK(?, 0) AS got', [lock]);
      print({ type: 'leading' });
    },
    wait: async () => {
      const rung = query(bell, 'SELECT GET_LOCK(?, 60) AS got', [lock]);
      print({ type: 'waiting' });
      await rung;
      const taken = (await query(
        lease,
        `UPDATE \`${table}\` SET term = LAST_INSERT_ID(term + 1), holder = ?, expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 SECOND WHERE name = 'floor' AND expires_at <= UTC_TIMESTAMP(6)`,
        [me],
      )) as { affectedRows: number; insertId: number };
      if (taken.affectedRows === 1) print({ type: 'granted', term: Number(taken.insertId) });
      else print({ type: 'lost' });
    },
  };
  readCommands((name) =>
    commands[name]?.().catch((error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    }),
  );
  print({ type: 'ready', candidateId: me });
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
