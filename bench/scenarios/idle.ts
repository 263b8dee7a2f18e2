import { BenchChild } from '../lib/child';
import type { BenchServer } from '../lib/db';
import type { Settings } from '../lib/settings';
import { log, round, sleep, waitUntil } from '../lib/util';

/** CPU and RSS of one idle app process over the window. */
export interface IdleProcess {
  readonly cpuMsPerMin: number;
  /** RSS after two full GCs at the end of the window (bytes). */
  readonly rss: number;
}

/** The same Nest app (HTTP server, two 1 s intervals) without the module, and with it as leader and standby. */
export interface IdleResult {
  readonly windowMs: number;
  readonly bare: IdleProcess;
  readonly leader: IdleProcess;
  readonly standby: IdleProcess;
}

/**
 * Three processes of bench/idle-app.ts side by side (so that the machine's load weighs on all alike):
 * one without the module, and two with it at its default options (one leads, one stands by). After
 * a settling time (35 s, --quick 8 s), CPU time over the window (60 s, --quick 15 s) and RSS after GC
 * at its end.
 */
export async function runIdle(server: BenchServer, settings: Settings): Promise<IdleResult> {
  const table = `idle_${Date.now()}`;
  const windowMs = settings.quick ? 15_000 : 60_000;
  const spawn = async (label: string, withModule: boolean) => {
    const { user, url } = await server.createUser();
    return new BenchChild(label, user, 'idle-app', {
      MYSQL_URL: url,
      TABLE: table,
      CANDIDATE_ID: label,
      WITH_MODULE: withModule ? '1' : '0',
    });
  };
  const bare = await spawn('idle-bare', false);
  const first = await spawn('idle-first', true);
  const children = [bare, first];
  try {
    await Promise.all(children.map((child) => child.waitReady()));
    await waitUntil(() => first.leads(), 30_000, 'the first app to lead', 10);
    const second = await spawn('idle-second', true);
    children.push(second);
    await second.waitReady();
    // Startup work (first reads, the doorbell's wait) is over; then one full GC in each process, and
    // time for the memory reducer's follow-up collections (up to 3, about 8 s apart, after a process's
    // startup), which would otherwise land in the window of whichever process started last.
    await sleep(settings.quick ? 3000 : 10_000);
    await Promise.all([bare, first, second].map((child) => child.request('cpu', 'cpu')));
    await sleep(settings.quick ? 5000 : 25_000);
    const leader = first.leads() ? first : second;
    const standby = leader === first ? second : first;
    const trio = [bare, leader, standby];
    const before = await Promise.all(trio.map((child) => child.request('cpu', 'cpu')));
    await sleep(windowMs);
    const after = await Promise.all(trio.map((child) => child.request('cpu', 'cpu')));
    if (!leader.leads()) throw new Error('leadership changed during the idle window');
    const [b, l, s] = trio.map((_, i) => ({
      // From the CPU time after the first report's forced GCs to the time before the second's.
      cpuMsPerMin: ((Number(after[i].cpuMs) - Number(before[i].cpuAfterGcMs)) * 60_000) / windowMs,
      rss: Number(after[i].rss),
    }));
    const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
    log(
      `  idle app: without the module ${round(b.cpuMsPerMin, 1)} ms/min ${mb(b.rss)} MB; leader ` +
        `${round(l.cpuMsPerMin, 1)} ms/min ${mb(l.rss)} MB; standby ${round(s.cpuMsPerMin, 1)} ms/min ${mb(s.rss)} MB`,
    );
    return { windowMs, bare: b, leader: l, standby: s };
  } finally {
    for (const child of children) child.forceKill();
    await Promise.all(children.map((child) => child.waitExit(5000)));
  }
}
