// Balanced leadership with real OS processes against the real MariaDB: 64 shards shared by 4 candidates,
// a SIGKILLed one's shares taken over within L + 1 s, a joining one given shares back, never two leaders
// of one shard at a time.
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LeaderElectionTesting, LeaderElectionTestingModule } from 'nestjs-leader-election/testing';
import {
  LeaderElectionService,
  OnLeadershipGranted,
  OnLeadershipRevoked,
  type LeadershipChange,
} from 'nestjs-leader-election';
import { CandidatePool, FAST_TIMING, sleep, waitUntil } from './support/candidates';
import { spawnChildCandidate, type ChildCandidate } from './support/child-candidate';
import { createTestDatabase, type TestDatabase } from './support/database';
import { MysqlLeaseStore } from '../libs/leader-election/src/store/mysql-lease-store';

const SHARDS = 64;
const TIMING = { LEASE_MS: '2000', RENEW_MS: '400', POLL_MS: '400', MARGIN_MS: '400' };
const L = Number(TIMING.LEASE_MS);

/** The shards a child leads now, from its elected / revoked lines. */
function led(child: ChildCandidate): Set<string> {
  const shards = new Set<string>();
  for (const line of child.lines) {
    if (!line.election?.startsWith('shard-')) continue;
    if (line.type === 'elected') shards.add(line.election);
    if (line.type === 'revoked') shards.delete(line.election);
  }
  return shards;
}

/** Per child, how many shards it leads; and how many shards are led by anybody. */
function census(children: ChildCandidate[]): { counts: number[]; total: number } {
  const counts = children.map((child) => led(child).size);
  const all = new Set(children.flatMap((child) => [...led(child)]));
  return { counts, total: all.size };
}

const balanced = (children: ChildCandidate[], low: number, high: number) => () => {
  const { counts, total } = census(children);
  return total === SHARDS && counts.every((n) => n >= low && n <= high);
};

/**
 * Every leadership interval of every shard, from the lines (wall clock of one machine): a child's
 * interval ends at its revoked line, or when it was killed.
 */
function overlaps(children: ChildCandidate[], killedAt: Map<ChildCandidate, number>): string[] {
  const intervals = new Map<string, { child: number; from: number; to: number }[]>();
  children.forEach((child, index) => {
    const open = new Map<string, number>();
    for (const line of child.lines) {
      if (!line.election?.startsWith('shard-')) continue;
      if (line.type === 'elected') open.set(line.election, line.wall);
      if (line.type === 'revoked' && open.has(line.election)) {
        const list = intervals.get(line.election) ?? [];
        list.push({ child: index, from: open.get(line.election)!, to: line.wall });
        intervals.set(line.election, list);
        open.delete(line.election);
      }
    }
    for (const [shard, from] of open) {
      const list = intervals.get(shard) ?? [];
      list.push({ child: index, from, to: killedAt.get(child) ?? Infinity });
      intervals.set(shard, list);
    }
  });
  const found: string[] = [];
  for (const [shard, list] of intervals) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      if (list[i].from < list[i - 1].to) {
        found.push(
          `${shard}: child ${list[i - 1].child} until ${list[i - 1].to}, child ${list[i].child} from ${list[i].from}`,
        );
      }
    }
  }
  return found;
}

describe('balanced leadership with real OS processes (real MariaDB)', () => {
  let db: TestDatabase;
  const children: ChildCandidate[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('balanced');
  });

  afterAll(async () => {
    await Promise.all(children.map((child) => child.kill('SIGTERM')));
    await db.drop();
  });

  const spawn = (name: string) =>
    spawnChildCandidate({
      ...TIMING,
      MYSQL_URL: db.url,
      TABLE: 'balanced_lease',
      CANDIDATE_ID: name,
      BALANCED: `shard-:${SHARDS}`,
    });

  it('4 processes lead 16 of 64 shards each; after a SIGKILL the others lead all 64 within L + 1 s, 21 to 22 each; a joining process gets its share back; never two leaders of a shard', async () => {
    for (const name of ['a', 'b', 'c', 'd']) children.push(await spawn(name));
    const four = [...children];
    await waitUntil(balanced(four, 15, 17), 30_000, '16 ± 1 shards on each of 4 processes').catch(
      (error: Error) => {
        throw new Error(`${error.message} Census: ${JSON.stringify(census(four))}`);
      },
    );
    // Stays balanced (no churn) over a few polls.
    await sleep(1_000);
    expect(census(four).counts.every((n) => n >= 15 && n <= 17)).toBe(true);
    expect(census(four).total).toBe(SHARDS);

    const victim = four[0];
    const orphans = [...led(victim)];
    const survivors = four.slice(1);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const killed = new Map([[victim, killedAt]]);
    await waitUntil(
      () => census(survivors).total === SHARDS,
      L + 5_000,
      'the survivors to lead all 64 shards',
    );
    // When the last orphan was taken, by the wall clock of the child that took it.
    const takenAt = orphans.map((shard) =>
      Math.min(
        ...survivors.flatMap((child) =>
          child.lines
            .filter((line) => line.type === 'elected' && line.election === shard && line.wall >= killedAt)
            .map((line) => line.wall),
        ),
      ),
    );
    const failoverMs = Math.max(...takenAt) - killedAt;
    console.log(`balanced: all ${SHARDS} shards led again ${failoverMs} ms after the SIGKILL (L = ${L} ms)`);
    expect(failoverMs).toBeLessThanOrEqual(L + 1_000);
    await waitUntil(balanced(survivors, 21, 22), 10_000, '21 to 22 shards on each of 3 processes').catch(
      (error: Error) => {
        throw new Error(`${error.message} Census: ${JSON.stringify(census(survivors))}`);
      },
    );

    const joiner = await spawn('e');
    children.push(joiner);
    const joinedAt = Date.now();
    const four2 = [...survivors, joiner];
    await waitUntil(balanced(four2, 15, 17), 15_000, 'the joining process to get its share').catch(
      (error: Error) => {
        throw new Error(`${error.message} Census: ${JSON.stringify(census(four2))}`);
      },
    );
    console.log(`balanced: a joining process led its share ${Date.now() - joinedAt} ms after it was ready`);
    expect(led(joiner).size).toBeGreaterThanOrEqual(15);

    expect(overlaps(children, killed)).toEqual([]);
  }, 120_000);
});

/** Records every grant and revocation of the `t-` group's shards, by candidate. */
const hookCalls: { candidateId: string; kind: 'granted' | 'revoked'; election: string }[] = [];

@Injectable()
class ShardHooks {
  constructor(private readonly leaderElection: LeaderElectionService) {}

  @OnLeadershipGranted('t-*')
  granted({ election }: LeadershipChange): void {
    hookCalls.push({ candidateId: this.leaderElection.candidateId, kind: 'granted', election });
  }

  @OnLeadershipRevoked('t-*')
  revoked({ election }: LeadershipChange): void {
    hookCalls.push({ candidateId: this.leaderElection.candidateId, kind: 'revoked', election });
  }
}

/** The shards the hooks say `candidateId` leads. */
function hookedShards(candidateId: string): string[] {
  const shards = new Set<string>();
  for (const call of hookCalls.filter((c) => c.candidateId === candidateId)) {
    if (call.kind === 'granted') shards.add(call.election);
    else shards.delete(call.election);
  }
  return [...shards].sort();
}

describe('balanced groups in Nest apps (real MariaDB)', () => {
  let db: TestDatabase;
  let pool: CandidatePool;

  beforeAll(async () => {
    db = await createTestDatabase('balanced_hooks');
    pool = new CandidatePool(() => db.url, FAST_TIMING);
  });

  afterEach(() => pool.closeAll());
  afterAll(() => db.drop());

  const start = (name: string) =>
    pool.startApp({
      options: { tableName: 'hooks_lease', candidateId: name, elections: [{ prefix: 't-', count: 8 }] },
      providers: [ShardHooks],
    });

  it("ledShards() and @OnLeadershipGranted('t-*') hooks tell each instance which shards it leads, also after the other one stops", async () => {
    const a = await start('a');
    const b = await start('b');
    await waitUntil(
      () => a.service.ledShards().length === 4 && b.service.ledShards('t-').length === 4,
      10_000,
      '4 shards each',
    );
    await waitUntil(
      () =>
        hookedShards(a.service.candidateId).join() === a.service.ledShards().join() &&
        hookedShards(b.service.candidateId).join() === b.service.ledShards().join(),
      5_000,
      'the hooks to agree with ledShards()',
    );
    expect([...a.service.ledShards(), ...b.service.ledShards()].sort()).toEqual([
      't-0',
      't-1',
      't-2',
      't-3',
      't-4',
      't-5',
      't-6',
      't-7',
    ]);
    expect(a.service.isLeader(a.service.ledShards()[0])).toBe(true);

    await a.close();
    await waitUntil(() => b.service.ledShards().length === 8, 10_000, 'b to lead all 8 shards');
    await waitUntil(
      () => hookedShards(b.service.candidateId).length === 8,
      5_000,
      "b's granted hooks for all 8 shards",
    );
    expect(hookedShards(a.service.candidateId)).toEqual([]);
    expect(() => b.service.ledShards('nope-')).toThrow(/Unknown balanced group "nope-".*"t-"/);
  });
});

describe('member rows on MariaDB: readPrefix and deleteExpiredPrefix', () => {
  let db: TestDatabase;
  let store: MysqlLeaseStore;

  beforeAll(async () => {
    db = await createTestDatabase('balanced_rows');
    store = new MysqlLeaseStore({ connection: db.url, tableName: 'rows_lease', operationTimeoutMs: 3_000 });
    await store.ensureSchema();
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it("reads exactly the rows that start with the prefix, taking '_', '%' and '!' in it literally", async () => {
    const names = ['a_b~member~1', 'a_b~member~2', 'axb~member~1', 'a%b~member~1', 'a!b~member~1', 'a_b-0'];
    for (const name of names) await store.ensureRow(name);
    await store.acquire('a_b~member~1', 'one', 0, 60_000);
    const rows = await store.readPrefix('a_b~member~');
    expect([...rows.keys()].sort()).toEqual(['a_b~member~1', 'a_b~member~2']);
    expect(rows.get('a_b~member~1')).toMatchObject({ holder: 'one', valid: true });
    expect(rows.get('a_b~member~2')).toMatchObject({ valid: false });
    expect([...(await store.readPrefix('a%b~')).keys()]).toEqual(['a%b~member~1']);
    expect([...(await store.readPrefix('a!b~')).keys()]).toEqual(['a!b~member~1']);
  });

  it('deletes only rows of the prefix that expired longer ago than asked', async () => {
    await store.ensureRow('p~member~old');
    await store.ensureRow('q~member~old');
    await store.ensureRow('p~member~live');
    await store.acquire('p~member~live', 'live', 0, 60_000);
    // Rows never acquired expired in 1970.
    expect(await store.deleteExpiredPrefix('p~member~', 60_000)).toBe(1);
    expect([...(await store.readPrefix('p~member~')).keys()]).toEqual(['p~member~live']);
    expect([...(await store.readPrefix('q~member~')).keys()]).toEqual(['q~member~old']);
  });
});

describe('balanced groups in LeaderElectionTestingModule (no database)', () => {
  it('leads every shard as the only member; revoke() and grant() move single shards, seen by ledShards() and the hooks', async () => {
    hookCalls.length = 0;
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ elections: ['x', { prefix: 't-', count: 8 }] })],
      providers: [ShardHooks],
    }).compile();
    await moduleRef.init();
    try {
      const service = moduleRef.get(LeaderElectionService);
      const testing = moduleRef.get(LeaderElectionTesting);
      await waitUntil(() => service.ledShards().length === 8, 5_000, 'all 8 shards');
      // 9 elections: an unknown name's error lists 8 of them and counts the rest.
      expect(() => service.isLeader('t-99')).toThrow(/"x", "t-0", .*"t-6" and 1 more\. Add it/);
      await testing.revoke('t-3');
      expect(service.ledShards()).not.toContain('t-3');
      expect(service.ledShards()).toHaveLength(7);
      await testing.grant('t-3');
      expect(service.ledShards()).toHaveLength(8);
      await waitUntil(() => hookedShards(service.candidateId).length === 8, 5_000, 'the hooks');
      expect(hookCalls.filter((c) => c.election === 't-3').map((c) => c.kind)).toEqual([
        'granted',
        'revoked',
        'granted',
      ]);
    } finally {
      await moduleRef.close();
    }
  });
});
