// Traces graceful handovers step by step, with timestamps from both processes:
//   LEADER_ELECTION_TRACE=1 is set for the candidates, which then print one line per step.
// Usage: node -r tools/register-ts.js bench/trace-handover.ts [candidates=3] [rounds=5] [leaseMs=10000]
// Uses MYSQL_URL's server (default mysql://root@127.0.0.1:3306), in a database of its own.
import { createConnection } from 'mysql2/promise';
import { BenchChild, type ChildLine } from './lib/child';
import { quantile, sleep, waitUntil } from './lib/util';

const [candidates = 3, rounds = 5, leaseMs = 10_000] = process.argv.slice(2).map(Number);
const base = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const database = `bench_trace_${process.pid}`;
const url = base.replace(/\/[^/]*$/, `/${database}`);

function spawn(i: number): BenchChild {
  return new BenchChild(`trace-${i}`, 'root', 'candidate', {
    MYSQL_URL: url,
    TABLE: 'lease',
    CANDIDATE_ID: `trace-${i}`,
    LEASE_MS: String(leaseMs),
    RENEW_MS: String(leaseMs / 5),
    POLL_MS: String(leaseMs / 5),
    MARGIN_MS: String(leaseMs / 10),
    LEADER_ELECTION_TRACE: '1',
  });
}

const leaderOf = (children: BenchChild[]): BenchChild | undefined =>
  children.find((child) => child.alive && child.lines.some((line) => line.type === 'granted'));

async function main(): Promise<void> {
  const admin = await createConnection(base);
  await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  const children: BenchChild[] = [];
  let next = 0;
  const totals: number[] = [];
  const steps = new Map<string, number[]>();
  try {
    for (let i = 0; i < candidates; i++) children.push(spawn(next++));
    await Promise.all(children.map((child) => child.waitReady()));
    for (let round = 0; round < rounds; round++) {
      const leader = await waitUntil(() => leaderOf(children), 60_000, 'a leader', 10);
      // Every standby has read the lease and waits on the doorbell.
      await sleep(1500 + Math.random() * 500);
      const from = new Map(children.map((child) => [child, child.lines.length]));
      // From the signal's sending (host clock, like the children's lines), as the bench measures.
      const start = leader.signal('SIGTERM');
      const successor = await waitUntil(
        () =>
          children.find(
            (child) =>
              child !== leader && child.lines.slice(from.get(child)).some((l) => l.type === 'granted'),
          ),
        3 * leaseMs,
        'the successor',
        2,
      );
      await leader.waitExit(5000);
      const rows: [string, ChildLine][] = [
        ...leader.lines.slice(from.get(leader)).map((l): [string, ChildLine] => ['old', l]),
        ...successor.lines.slice(from.get(successor)).map((l): [string, ChildLine] => ['new', l]),
      ].sort((a, b) => a[1].t - b[1].t);
      console.log(`round ${round + 1}: ${leader.label} -> ${successor.label}`);
      for (const [who, line] of rows) {
        if (line.type !== 'trace' && line.type !== 'granted' && line.type !== 'revoked') continue;
        const name = line.type === 'trace' ? String(line.step) : line.type;
        const ms = line.t - start;
        console.log(`  ${who} ${ms.toFixed(2).padStart(8)} ms  ${name}`);
        steps.set(`${who} ${name}`, [...(steps.get(`${who} ${name}`) ?? []), ms]);
      }
      totals.push(rows.find(([who, l]) => who === 'new' && l.type === 'granted')![1].t - start);
      children.splice(children.indexOf(leader), 1);
      const fresh = spawn(next++);
      children.push(fresh);
      await fresh.waitReady();
    }
    console.log(
      `\nSIGTERM -> granted: p50 ${quantile(totals, 0.5).toFixed(2)} ms, p90 ${quantile(totals, 0.9).toFixed(2)} ms`,
    );
    for (const [step, values] of steps)
      console.log(`  ${step.padEnd(24)} p50 ${quantile(values, 0.5).toFixed(2)} ms`);
  } finally {
    for (const child of children) child.forceKill();
    await Promise.all(children.map((child) => child.waitExit(5000)));
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
