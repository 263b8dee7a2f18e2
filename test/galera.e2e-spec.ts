import { Kysely, MysqlDialect, sql, type Transaction } from 'kysely';
import { createPool } from 'mysql2';
import { createConnection, type Connection } from 'mysql2/promise';
import { performance } from 'node:perf_hooks';
import { NotLeaderError } from 'nestjs-leader-election';
import { lockLeaseRow } from '../libs/leader-election/src/store/lease-fence';
import { createLeaseTableSql } from '../libs/leader-election/src/store/lease-table';
import { startGaleraCluster, waitApplied, type GaleraCluster } from '../tools/galera-cluster';
import { CandidatePool, waitUntil } from './support/candidates';
import { faketimeEnv } from './support/child-candidate';
import { withDatabase } from './support/database';
import { startTcpProxy } from './support/tcp-proxy';

// A 3-node MariaDB Galera cluster of this file's own (tools/galera-cluster.ts), started once for all tests.
// Certification sees only the rows a transaction writes: these tests pit a fenced transaction on one node
// against a takeover committed through another.

interface Ledger {
  ledger: { id?: number; try_no: number; term: number };
}
type AnyTrx = Transaction<any>;

const DATABASE = 'le_galera';
const NODE3_SKEW_MS = 600;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits `ms` (fractions included) without giving timers a chance to round it to a whole millisecond. */
async function spin(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The Galera seqno of the last write the session made (cluster-wide commit order). */
async function lastWrittenSeqno(query: (text: string) => Promise<unknown[]>): Promise<number> {
  const rows = (await query('SELECT WSREP_LAST_WRITTEN_GTID() AS gtid')) as { gtid: string }[];
  return Number(String(rows[0].gtid).split('-')[2]);
}

describe('on a 3-node Galera cluster', () => {
  let cluster: GaleraCluster;
  let node1Url: string;
  let node2Url: string;
  let kysely1: Kysely<Ledger>;
  let node2: Connection;

  beforeAll(async () => {
    // Node 3's clock runs 0.6 s ahead (libfaketime): within the default safety margin M = 1 s.
    cluster = await startGaleraCluster({ nodeEnv: { 2: faketimeEnv(`+${NODE3_SKEW_MS / 1000}`) } });
    node1Url = withDatabase(cluster.urls[0], DATABASE);
    node2Url = withDatabase(cluster.urls[1], DATABASE);
    const admin = await createConnection({ uri: cluster.urls[0] });
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    await waitApplied(cluster.nodes.map((node) => node.port));
    const pool = createPool({ uri: node1Url, connectionLimit: 4 });
    // Causal reads on the user's pool too, so that each try starts from the row just written on node 2.
    pool.on('connection', (conn) => conn.query('SET SESSION wsrep_sync_wait = 1'));
    kysely1 = new Kysely<Ledger>({ dialect: new MysqlDialect({ pool }) });
    node2 = await createConnection({ uri: node2Url });
    await node2.query('SET SESSION wsrep_sync_wait = 1');
  }, 120_000);

  afterAll(async () => {
    await node2?.end();
    await kysely1?.destroy();
    await cluster?.stop();
  }, 60_000);

  describe('the cross-node fence race', () => {
    /**
     * `tries` races: node 2 hands the lease row to holder 'a' under a fresh term; node 1 opens a fenced
     * transaction for it, writes a ledger row, and commits while node 2 commits a takeover (holder 'b', the
     * next term). A late commit is a fenced commit ordered after the takeover (by Galera seqno).
     */
    async function race(
      table: string,
      fence: (trx: AnyTrx, term: number) => Promise<boolean>,
      tries: number,
    ): Promise<{ late: number; committed: number; aborted: number; refused: number }> {
      await node2.query(createLeaseTableSql(table));
      await node2.query(`INSERT INTO ${table} (name) VALUES ('jobs')`);
      await node2.query(
        'CREATE TABLE IF NOT EXISTS ledger (id INT AUTO_INCREMENT PRIMARY KEY, try_no INT, term BIGINT)',
      );
      const result = { late: 0, committed: 0, aborted: 0, refused: 0 };
      for (let i = 0; i < tries; i++) {
        const term = 1_000 + i * 2;
        await node2.query(
          `UPDATE ${table} SET holder = 'a', term = ?, expires_at = UTC_TIMESTAMP(6) + INTERVAL 60 SECOND
           WHERE name = 'jobs'`,
          [term],
        );
        let startTakeover!: () => void;
        const fenced = new Promise<void>((resolve) => (startTakeover = resolve));
        const takeover = fenced.then(async () => {
          for (;;) {
            try {
              const [res] = await node2.query(
                `UPDATE ${table} SET holder = 'b', term = ? WHERE name = 'jobs' AND term = ?`,
                [term + 1, term],
              );
              if ((res as { affectedRows: number }).affectedRows !== 1) throw new Error('takeover missed');
              return lastWrittenSeqno(async (text) => (await node2.query(text))[0] as unknown[]);
            } catch (error) {
              // Certification failure against the fenced commit: the takeover is retried, as the elector would.
              if ((error as { errno?: number }).errno !== 1213) throw error;
            }
          }
        });
        const commit = kysely1.connection().execute(async (conn) => {
          try {
            await conn.transaction().execute(async (trx) => {
              if (!(await fence(trx, term))) throw new Error('refused');
              await trx.insertInto('ledger').values({ try_no: i, term }).execute();
              startTakeover();
              // Commit 0 to 4 ms after the takeover was sent (the window in which it is certified on node 2
              // but not yet applied on node 1 is well under a millisecond here).
              await spin((i % 20) * 0.2);
            });
          } catch (error) {
            startTakeover();
            if ((error as Error).message === 'refused') return 'refused' as const;
            if ((error as { errno?: number }).errno === 1213) return 'aborted' as const;
            throw error;
          }
          return lastWrittenSeqno(async (text) => (await sql.raw(text).execute(conn)).rows as unknown[]);
        });
        const [fencedSeqno, takeoverSeqno] = await Promise.all([commit, takeover]);
        if (fencedSeqno === 'refused') result.refused++;
        else if (fencedSeqno === 'aborted') result.aborted++;
        else {
          result.committed++;
          if (fencedSeqno > takeoverSeqno) result.late++;
        }
      }
      return result;
    }

    it('the fence of assertLeader on node 1 never commits after a takeover committed on node 2 (150 tries: 0 late commits)', async () => {
      const outcome = await race(
        'lease_race_fence',
        (trx, term) => lockLeaseRow(trx, 'lease_race_fence', 'jobs', 'a', term),
        150,
      );
      console.log('fence of assertLeader, 150 races:', outcome);
      expect(outcome.committed + outcome.aborted + outcome.refused).toBe(150);
      expect(outcome.late).toBe(0);
    }, 90_000);
  });

  describe('runFenced through node 1', () => {
    const pool = new CandidatePool(() => node1Url, {});
    afterEach(() => pool.closeAll());

    it('the fence writes the lease row on Galera: each runFenced bumps fence_seq once', async () => {
      const a = await pool.start('a', 'lease_fence_seq');
      await waitUntil(() => a.service.isLeader(), 10_000, 'a to lead');
      const seq = async () => {
        const [rows] = await node2.query("SELECT fence_seq FROM lease_fence_seq WHERE name = 'default'");
        return Number((rows as { fence_seq: number }[])[0].fence_seq);
      };
      const before = await seq();
      await a.service.runFenced(kysely1, async () => undefined);
      await a.service.runFenced(kysely1, async () => undefined);
      expect((await seq()) - before).toBe(2);
    }, 60_000);

    it('a fenced transaction aborted by a takeover committed through node 2 fails with NotLeaderError, and nothing of it commits', async () => {
      const a = await pool.start('a', 'lease_fenced_abort');
      await waitUntil(() => a.service.isLeader(), 10_000, 'a to lead');
      await node2.query(
        'CREATE TABLE IF NOT EXISTS ledger (id INT AUTO_INCREMENT PRIMARY KEY, try_no INT, term BIGINT)',
      );
      const attempt = a.service.runFenced(kysely1, async (trx, { term }) => {
        await node2.query(
          "UPDATE lease_fenced_abort SET holder = 'intruder', term = term + 1 WHERE name = 'default'",
        );
        await trx.insertInto('ledger').values({ try_no: -1, term }).execute();
      });
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotLeaderError);
      const [rows] = await node2.query('SELECT * FROM ledger WHERE try_no = -1');
      expect(rows).toEqual([]);
    }, 60_000);
  });
  describe('a node whose clock is skewed', () => {
    const pool = new CandidatePool(() => node1Url, {});
    afterEach(() => pool.closeAll());

    /**
     * Leader a reaches node 1 through a proxy, standby b reaches node 3 (clock ahead). The proxy blackholes
     * a: its renewals hang, and it believes in its lease until L - M after the last one was sent; b takes
     * over once node 3's clock passes the expiry node 1 wrote. Resolves with both instants.
     */
    const cutOffLeader = async (safetyMarginMs: number) => {
      // The skew is real: node 3 reads its clock ahead of node 1's.
      const clockOf = async (url: string) => {
        const conn = await createConnection({ uri: url });
        const [rows] = await conn.query('SELECT UNIX_TIMESTAMP(NOW(6)) AS t');
        await conn.end();
        return Number((rows as { t: string }[])[0].t) * 1000;
      };
      const before = performance.now();
      const node1Clock = await clockOf(cluster.urls[0]);
      const node3Clock = await clockOf(cluster.urls[2]);
      const skewMs = node3Clock - node1Clock - (performance.now() - before) / 2;
      expect(skewMs).toBeGreaterThan(NODE3_SKEW_MS - 300);
      expect(skewMs).toBeLessThan(1_000);

      const proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.nodes[0].port });
      try {
        const timing = {
          leaseDurationMs: 3_000,
          renewIntervalMs: 500,
          pollIntervalMs: 200,
          safetyMarginMs,
        };
        const a = await pool.start('a', `lease_skewed_${safetyMarginMs}`, {
          ...timing,
          connection: proxy.via(node1Url),
        });
        await waitUntil(() => a.service.isLeader(), 10_000, 'a to lead');
        const b = await pool.start('b', `lease_skewed_${safetyMarginMs}`, {
          ...timing,
          connection: withDatabase(cluster.urls[2], DATABASE),
        });
        await waitUntil(() => b.service.getState().leaderId === a.service.candidateId, 10_000, 'b to see a');
        let revokedAt = 0;
        let electedAt = 0;
        a.service.changes$.subscribe((event) => {
          if (event.type === 'revoked') revokedAt ||= performance.now();
        });
        b.service.changes$.subscribe((event) => {
          if (event.type === 'elected') electedAt ||= performance.now();
        });
        proxy.blackhole(); // a's renewals hang: it keeps believing until its local deadline (L - M)
        await waitUntil(() => electedAt > 0, 15_000, 'b to take over');
        // The cut-off leader steps down by its own clock, L - M after its last renewal was sent.
        await waitUntil(() => revokedAt > 0, 10_000, 'a to step down');
        return { skewMs, revokedAt, electedAt };
      } finally {
        await pool.closeAll();
        await proxy.close();
      }
    };

    it('a leader cut off on node 1 steps down before a standby judging the lease on node 3 (clock 0.6 s ahead, M = 1 s) takes over', async () => {
      const { skewMs, revokedAt, electedAt } = await cutOffLeader(1_000);
      console.log(
        `node 3 ${Math.round(skewMs)} ms ahead, M = 1 s: a stepped down ${Math.round(electedAt - revokedAt)} ms before b took over`,
      );
      expect(electedAt).toBeGreaterThan(revokedAt);
    }, 60_000);

    it('with M (0.2 s) below the clock difference, that standby takes over while the cut-off leader still believes: why M must exceed it', async () => {
      const { skewMs, revokedAt, electedAt } = await cutOffLeader(200);
      console.log(
        `node 3 ${Math.round(skewMs)} ms ahead, M = 0.2 s: b took over ${Math.round(revokedAt - electedAt)} ms before a stepped down`,
      );
      expect(electedAt).toBeLessThan(revokedAt);
    }, 60_000);
  });

  describe('losing a node (default timings)', () => {
    const pool = new CandidatePool(() => node1Url, {});
    afterEach(() => pool.closeAll());

    it('losing (SIGKILL) a node that lease traffic does not use costs no leadership: the leader keeps leading, no revoked event', async () => {
      const a = await pool.start('a', 'lease_lose_other');
      await waitUntil(() => a.service.isLeader(), 15_000, 'a to lead');
      const b = await pool.start('b', 'lease_lose_other');
      await waitUntil(() => b.service.getState().leaderId === a.service.candidateId, 15_000, 'b to see a');
      const events: string[] = [];
      for (const candidate of [a, b]) {
        // Leadership events only: a standby's poll may time out during the stall (health-changed).
        candidate.service.changes$.subscribe((event) => {
          if (event.type !== 'health-changed') events.push(`${candidate.service.candidateId}:${event.type}`);
        });
      }
      const started = Date.now();
      await cluster.nodes[2].kill();
      // Galera notices the loss after its suspect timeout (5 s) and then forms a primary component of two;
      // the lease traffic on node 1 must ride it out.
      while (Date.now() - started < 20_000) {
        expect(a.service.isLeader()).toBe(true);
        await sleep(100);
      }
      expect(events).toEqual([]);
      expect(b.service.getState().leaderId).toBe(a.service.candidateId);
    }, 90_000);
    /** Each candidate as a MySQL user of its own, so that process lists tell which node its traffic uses. */
    const nodesAs = (user: string) =>
      cluster.urls.map((url) => {
        const parsed = new URL(withDatabase(url, DATABASE));
        parsed.username = user;
        return parsed.toString();
      });
    const startOnAllNodes = async (name: string, tableName: string) => {
      await node2.query(`CREATE USER IF NOT EXISTS 'cand_${name}'@'%'`);
      await node2.query(`GRANT ALL ON ${DATABASE}.* TO 'cand_${name}'@'%'`);
      return pool.startApp({
        options: { tableName, candidateId: name, connection: nodesAs(`cand_${name}`) },
      });
    };
    /** The nodes (0-based) where `user` has connections (paused nodes not asked). */
    const nodesOf = async (user: string, skip: number[] = []) => {
      const found: number[] = [];
      for (const node of cluster.nodes.filter((n) => n.running() && !skip.includes(n.index - 1))) {
        const conn = await createConnection({ uri: node.url });
        const [rows] = await conn.query(
          'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
          [user],
        );
        await conn.end();
        if (Number((rows as { n: number }[])[0].n) > 0) found.push(node.index - 1);
      }
      return found;
    };
    /** Samples the candidates every 50 ms for `ms`: the most leaders at once, the longest time with none. */
    const watchLeaders = async (ms: number) => {
      const from = Date.now();
      let leaderlessSince: number | undefined = undefined;
      let longestLeaderlessMs = 0;
      let most = 0;
      while (Date.now() - from < ms) {
        const leaders = pool.leaders().length;
        most = Math.max(most, leaders);
        if (leaders === 0) leaderlessSince ??= Date.now();
        else if (leaderlessSince !== undefined) {
          longestLeaderlessMs = Math.max(longestLeaderlessMs, Date.now() - leaderlessSince);
          leaderlessSince = undefined;
        }
        await sleep(50);
      }
      if (leaderlessSince !== undefined) {
        longestLeaderlessMs = Math.max(longestLeaderlessMs, Date.now() - leaderlessSince);
      }
      return { most, longestLeaderlessMs };
    };
    /** Starts a leader and a standby listing all three nodes; resolves with the leader's lease node. */
    const leaderAndStandby = async (tableName: string) => {
      const a = await startOnAllNodes('a', tableName);
      await waitUntil(() => a.service.isLeader(), 15_000, 'a to lead');
      const b = await startOnAllNodes('b', tableName);
      await waitUntil(() => b.service.getState().leaderId === a.service.candidateId, 15_000, 'b to see a');
      const leaseNodes = await nodesOf('cand_a');
      expect(leaseNodes).toHaveLength(1);
      return { a, b, leaseNode: leaseNodes[0], leaseMs: a.service.settings.leaseDurationMs };
    };

    it('losing (SIGKILL) the lease node costs at most L + 10 s without a leader: lease traffic given several nodes moves to one in the primary component', async () => {
      // The previous test killed node 3: bring it back, so that two of three nodes remain after this kill.
      await cluster.nodes[2].restart();
      await cluster.waitSynced(3);
      const { a, leaseNode, leaseMs } = await leaderAndStandby('lease_lose_lease_node');
      const firstTerm = a.service.getState().term;
      await cluster.nodes[leaseNode].kill();
      // Watch for L + 15 s: the longest stretch without a leader must stay within L + 10 s, never two.
      const { most, longestLeaderlessMs } = await watchLeaders(leaseMs + 15_000);
      const after = { leader: await nodesOf('cand_a'), standby: await nodesOf('cand_b') };
      console.log(
        `lease node ${leaseNode + 1} killed: longest time without a leader ${longestLeaderlessMs} ms (L = ${leaseMs} ms); ` +
          `terms ${firstTerm} -> ${a.service.getState().term}; lease traffic now on nodes`,
        after,
      );
      expect(most).toBe(1);
      expect(pool.leaders()).toHaveLength(1);
      expect(longestLeaderlessMs).toBeLessThanOrEqual(leaseMs + 10_000);
      // Lease traffic moved to the nodes that are left.
      expect(after.leader.length).toBeGreaterThan(0);
      expect(after.leader).not.toContain(leaseNode);
      expect(after.standby).not.toContain(leaseNode);
    }, 120_000);

    it('pausing (SIGSTOP) the lease node for 10 s costs at most L + 10 s without a leader, never two', async () => {
      const down = cluster.nodes.findIndex((node) => !node.running());
      await cluster.nodes[down].restart();
      await cluster.waitSynced(3);
      const { leaseNode, leaseMs } = await leaderAndStandby('lease_pause_lease_node');
      const paused = cluster.nodes[leaseNode];
      paused.pause();
      let watched;
      try {
        watched = await watchLeaders(10_000);
      } finally {
        paused.resume();
      }
      const rest = await watchLeaders(leaseMs + 5_000);
      const most = Math.max(watched.most, rest.most);
      const longest = Math.max(watched.longestLeaderlessMs, rest.longestLeaderlessMs);
      console.log(
        `lease node ${leaseNode + 1} paused 10 s: longest time without a leader ${longest} ms (L = ${leaseMs} ms)`,
      );
      expect(most).toBe(1);
      expect(pool.leaders()).toHaveLength(1);
      expect(longest).toBeLessThanOrEqual(leaseMs + 10_000);
    }, 120_000);
  });
});
