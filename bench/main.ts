// The benchmark: `npm run bench` (full, the scale runs last) or `npm run bench -- --quick` (CI, < 2 min,
// without the scale runs); `npm run bench -- --scale` runs only the scale part and updates only its section.
// Runs real candidate processes (bench/candidate.ts, bench/light-candidate.ts) against private throwaway
// MariaDB servers and writes bench/results/latest.{json,md} and timeline.svg. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, arch, release, totalmem, type } from 'node:os';
import { join, relative } from 'node:path';
import { killAllChildren, ROOT, useCompiledChildren } from './lib/child';
import type { Cluster } from './lib/cluster';
import { buildChildren, removeBuild } from './lib/build';
import { BenchServer, killAllServers, type RowMonitor } from './lib/db';
import { checkOverlaps, leadIntervals } from './lib/overlaps';
import {
  buildScaleRows,
  buildTargetRows,
  renderMarkdown,
  renderScaleSection,
  scaleSectionOf,
  withScaleSection,
  type BenchResults,
  type ModeResults,
} from './lib/report';
import { parseSettings, type Settings } from './lib/settings';
import { renderTimeline, type TimelinePanel } from './lib/timeline';
import { abortBench, isAborted, log, now, round } from './lib/util';
import {
  describeCost,
  measureCost,
  peakRss,
  runBigCost,
  runConnections,
  settleSteady,
} from './scenarios/cost';
import { runFailoverScenario, settle } from './scenarios/failover';
import { runHandoverLimit, type HandoverLimitResult } from './scenarios/handover';
import { runIdle, type IdleResult } from './scenarios/idle';
import { runMicro, type MicroResult } from './scenarios/micro';
import { runMulti } from './scenarios/multi';
import { runOnce, type OnceResult } from './scenarios/once';
import { runBalanced, type BalancedResult } from './scenarios/balanced';
import { runScale, type ScaleResult } from './scenarios/scale';

interface Group {
  readonly cluster: Cluster;
  readonly monitor: RowMonitor;
  readonly mode: number;
}

let interrupted = false;

function installCleanup(): void {
  // Last resort, synchronous: no candidate or server outlives the bench, whatever ends it.
  process.on('exit', () => {
    killAllChildren();
    killAllServers();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      log(`${signal}: stopping candidates and servers (again to force)`);
      abortBench(signal);
      setTimeout(() => process.exit(130), 20_000).unref();
    });
  }
  process.on('uncaughtException', (error) => {
    log(`uncaught: ${error.stack ?? String(error)}`);
    process.exit(1);
  });
  process.on('unhandledRejection', (error) => {
    log(`unhandled rejection: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  });
}

async function main(): Promise<number> {
  const startedAt = now();
  const settings = parseSettings(process.argv.slice(2));
  installCleanup();
  const { timing } = settings;
  log(
    `${settings.quick ? 'quick' : 'full'} run: L=${timing.leaseMs} R=${timing.renewMs} P=${timing.pollMs} ` +
      `M=${timing.marginMs}, ${settings.rounds} rounds, modes ${settings.modes.map((m) => m.label).join(', ')}, ` +
      `scenarios ${[...settings.scenarios].join(', ')}`,
  );
  for (const note of settings.notes) log(note);

  const modes: ModeResults[] = settings.modes.map((mode) => ({ mode }));
  const groups: Group[] = [];
  const panels: TimelinePanel[] = [];
  const errors: string[] = [];
  const servers: BenchServer[] = [];
  let micro: MicroResult | undefined;
  let handoverLimit: HandoverLimitResult | undefined;
  let idle: IdleResult | undefined;
  let once: OnceResult | undefined;
  let balanced: BalancedResult | undefined;
  let scale: ScaleResult | undefined;
  let mariadb: string | undefined;
  let dbLatency: { selectMs: number; updateMs: number } | undefined;

  /** Runs one measurement; a failure is recorded and the bench goes on (unless interrupted). */
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      if (interrupted || isAborted()) throw error;
      const message = `${name}: ${error instanceof Error ? error.message : String(error)}`;
      errors.push(message);
      log(`FAILED ${message}`);
      return undefined;
    }
  };

  const source = librarySource();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const machineCpus = cpus();
  const buildDir = buildChildren();
  process.on('exit', () => removeBuild(buildDir));
  useCompiledChildren(buildDir);
  log(`library ${source} compiled to ${relative(ROOT, buildDir)}`);

  try {
    const wantMulti = settings.scenarios.has('multi');
    const wantScale = settings.scenarios.has('scale');
    // The scale runs put 100 processes with up to 2 connections each on the main server (after all else).
    const mainArgs = wantScale ? ['--max-connections=1000'] : [];
    // A second private server for the 100-election run, which goes on in the background while the
    // steady-state runs measure on the first: its load never reaches the first server's counters.
    const [mainServer, multiServer] = await Promise.all([
      BenchServer.start('main', mainArgs),
      wantMulti ? BenchServer.start('multi') : Promise.resolve(undefined),
    ]);
    servers.push(mainServer, ...(multiServer ? [multiServer] : []));
    mariadb = mainServer.version;
    dbLatency = await mainServer.latency();
    log(
      `  round trip on the private server: SELECT ${round(dbLatency.selectMs, 2)} ms, ` +
        `autocommit UPDATE ${round(dbLatency.updateMs, 2)} ms (median)`,
    );

    if (settings.scenarios.has('micro')) {
      log('isLeader() and @LeaderOnly() in-process');
      micro = await step('micro', () => runMicro(mainServer, settings));
      if (micro) {
        log(
          `  isLeader ${round(micro.isLeaderOnLeaderNs)} ns, wrapper overhead leader ${round(micro.wrapperOverheadOnLeaderNs)} ns, ` +
            `follower ${round(micro.wrapperOverheadOnFollowerNs)} ns`,
        );
        const m = micro.withMetrics;
        if (m) {
          log(
            `  with an OpenTelemetry SDK: isLeader ${round(m.isLeaderOnLeaderNs)} ns, wrapper overhead leader ` +
              `${round(m.wrapperOverheadOnLeaderNs)} ns, follower ${round(m.wrapperOverheadOnFollowerNs)} ns ` +
              `(${m.metricsCollections} collections)`,
          );
        }
      }
    }

    // Latency and idle CPU first, before the background run loads the machine.
    if (settings.scenarios.has('handover')) {
      log(
        'graceful handover to the granted hook at the default options, 3 and ' +
          `${settings.bigCluster} candidates`,
      );
      handoverLimit = await step('handover at the default options', () =>
        runHandoverLimit(mainServer, settings),
      );
    }
    if (settings.scenarios.has('idle')) {
      log('idle cost of a Nest app with and without the module');
      idle = await step('idle cost', () => runIdle(mainServer, settings));
    }
    if (settings.scenarios.has('once')) {
      log(`run-once: start latency, catch-up after a crash, statements (${settings.modes[0].label})`);
      once = await step('run-once', () => runOnce(mainServer, settings.modes[0], settings));
    }
    if (settings.scenarios.has('balanced')) {
      log(
        `balanced leadership: 64 shards on 4 candidates, SIGKILL of one, one joins (${settings.modes[0].label})`,
      );
      const run = await step('balanced', () => runBalanced(mainServer, settings.modes[0], settings));
      if (run) {
        groups.push({ cluster: run.cluster, monitor: run.monitor, mode: 0 });
        balanced = run.result;
      }
    }

    // The 100-election run takes longest and only counts statements and heap: it goes on in the
    // background on its own server, so that its load never reaches the main server's counters. It starts
    // once the last latency measurement (failover, handover) is done.
    let background: Promise<void> | undefined;
    const startBackground = () => {
      if (background || !wantMulti || !multiServer) return;
      background = (async () => {
        for (const mode of settings.multiModes) {
          const index = settings.modes.indexOf(mode);
          log(`[${mode.label}] ${settings.multiElections} elections in one process, then two (background)`);
          const run = await step(`${settings.multiElections} elections (${mode.label})`, () =>
            runMulti(multiServer, mode, settings),
          );
          if (!run) continue;
          groups.push({ cluster: run.cluster, monitor: run.monitor, mode: index });
          modes[index].multi = run.result;
          const x = run.result;
          log(
            `  [${mode.label}] ${x.elections} elections: leader ${round(x.pair.leaderPerR, 1)} per R, follower ` +
              `${round(x.pair.followerPerP, 1)} per P; heap growth ${round(x.heap.leaderGrowth / 1024, 0)} KB / ` +
              `${round(x.heap.followerGrowth / 1024, 0)} KB`,
          );
        }
      })();
      // Never left unhandled while the foreground runs; awaited below.
      background.catch(() => undefined);
    };

    // Per mode: crash failover and graceful handover on 3 candidates, then the steady-state window of
    // the same 3 candidates. Only this cluster runs on the main server meanwhile, so SHOW GLOBAL STATUS
    // deltas belong to it.
    for (const [index, mode] of settings.modes.entries()) {
      const results = modes[index];
      const last = index === settings.modes.length - 1;
      let cluster: Cluster | undefined;
      let monitor: RowMonitor | undefined;
      if (settings.scenarios.has('failover')) {
        log(`[${mode.label}] crash failover and graceful handover, 3 candidates`);
        const scenario = await step(`failover (${mode.label})`, () =>
          runFailoverScenario(mainServer, mode, settings),
        );
        if (scenario) {
          ({ cluster, monitor } = scenario);
          groups.push({ cluster, monitor, mode: index });
          results.failover = scenario.failover;
          results.handover = scenario.handover;
          panels.push({
            title: `${mode.label}: ${settings.rounds} SIGKILLs then ${settings.rounds} SIGTERMs of the leader (3 candidates, L=${timing.leaseMs} ms, P=${timing.pollMs} ms)`,
            cluster,
            from: cluster.startedAt,
            to: scenario.roundsEndedAt + 300,
          });
        }
      }
      if (last) startBackground();
      if (settings.scenarios.has('cost')) {
        const own = cluster;
        if (own) {
          await step(`steady state, 3 candidates (${mode.label})`, async () => {
            await settle(own, settings); // replaces the last signalled leader
            await settleSteady(own, settings);
            results.cost3 = await measureCost(mainServer, own, settings.costWindowMs);
            results.peakRssOneElection = await peakRss(own);
          });
        } else {
          const run = await step(`steady state, 3 candidates (${mode.label})`, () =>
            runBigCost(mainServer, mode, settings, 3),
          );
          if (run) {
            groups.push({ cluster: run.cluster, monitor: run.monitor, mode: index });
            results.cost3 = run.cost;
            results.peakRssOneElection = run.peakRss;
          }
        }
        if (results.cost3) log(`  [${mode.label}] 3 candidates: ${describeCost(results.cost3)}`);
      }
      await cluster?.stop();
      const stopping = monitor;
      if (stopping) await step(`row monitor (${mode.label})`, () => stopping.stop());
    }
    startBackground();

    if (settings.scenarios.has('connections')) {
      // Both modes at once: each is two mostly idle processes, sampled by user.
      log(
        `connections of a standby process in 4 elections (${settings.modes.map((m) => m.label).join(', ')})`,
      );
      await Promise.all(
        settings.modes.map(async (mode, index) => {
          const run = await step(`connections (${mode.label})`, () =>
            runConnections(mainServer, mode, settings),
          );
          if (!run) return;
          groups.push({ cluster: run.cluster, monitor: run.monitor, mode: index });
          modes[index].connections = run.result;
          log(
            `  [${mode.label}] standby up to ${run.result.standby.maxConnections} connections ` +
              `(${run.result.standby.lockWaitsAtMax} GET_LOCK waits), leader up to ${run.result.leader.maxConnections}`,
          );
        }),
      );
    }

    if (settings.scenarios.has('cost')) {
      for (const [index, mode] of settings.modes.entries()) {
        const size = settings.bigCluster;
        log(`[${mode.label}] steady state, ${size} candidates`);
        const run = await step(`steady state, ${size} candidates (${mode.label})`, () =>
          runBigCost(mainServer, mode, settings, size),
        );
        if (run) {
          groups.push({ cluster: run.cluster, monitor: run.monitor, mode: index });
          modes[index].costBig = run.cost;
          log(`  [${mode.label}] ${size} candidates: ${describeCost(run.cost)}`);
        }
      }
    }
    await background;

    if (wantScale) {
      // Last: nothing else runs on the machine's two cores or on the main server meanwhile.
      scale = await step('scale', () =>
        runScale(
          mainServer,
          async (label) => {
            const server = await BenchServer.start(label);
            servers.push(server);
            return server;
          },
          settings,
          {
            command,
            librarySource: source,
            machine:
              `${machineCpus.length} cores (${machineCpus[0]?.model.trim() ?? 'unknown'}), ` +
              `${(totalmem() / 1024 ** 3).toFixed(1)} GiB, Node ${process.version}, MariaDB ${mainServer.version}`,
          },
        ),
      );
      if (scale) errors.push(...scale.errors);
    }
  } finally {
    killAllChildren();
    await Promise.all(servers.map((server) => server.stop()));
  }

  const end = now();
  const overlaps = checkOverlaps(groups, end);
  modes.forEach((results, index) => {
    const own = groups.filter((group) => group.mode === index);
    if (own.length > 0) results.overlaps = checkOverlaps(own, end);
  });
  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    durationS: (end - startedAt) / 1000,
    librarySource: source,
    command,
    settings,
    machine: {
      cores: machineCpus.length,
      cpu: machineCpus[0]?.model.trim() ?? 'unknown',
      memoryGiB: totalmem() / 1024 ** 3,
      node: process.version,
      mariadb: mariadb ?? 'unknown',
      dbLatency,
      os: `${type()} ${release()} ${arch()}`,
    },
    modes,
    micro,
    handoverLimit,
    idle,
    once,
    balanced,
    scale,
    overlaps,
    errors,
  };
  writeResults(results, settings, panels, groups);

  const rows = buildTargetRows(results);
  const scaleRows = scale ? buildScaleRows(scale) : [];
  const scaleOnly = isScaleOnly(settings);
  const failed = [...(scaleOnly ? [] : [...rows.perMode, ...rows.single]), ...scaleRows].filter((row) =>
    row.cells.some((cell) => cell.pass === false),
  );
  const unsafe =
    overlaps.overlaps + overlaps.termConflicts + overlaps.termsNotIncreasing + (scale?.overlaps.found ?? 0) >
    0;
  log(
    `done in ${Math.round(results.durationS)} s: ${failed.length} target row(s) with a FAIL, ` +
      `${errors.length} error(s), overlaps ${unsafe ? 'FOUND' : '0'}`,
  );
  if (unsafe || errors.length > 0) return 1;
  return settings.strict && failed.length > 0 ? 1 : 0;
}

/** The commit the library was compiled from, and whether its source had uncommitted changes. */
function librarySource(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--', 'libs/leader-election/src')
      .split('\n')
      .filter(Boolean);
    return changed.length > 0 ? `${commit} + uncommitted changes in ${changed.length} file(s)` : commit;
  } catch {
    return 'unknown (no git)';
  }
}

/** A run of the scale scenario alone (`--scale` or `--only=scale`) updates only the Scale section. */
function isScaleOnly(settings: Settings): boolean {
  return settings.scenarios.size === 1 && settings.scenarios.has('scale');
}

const readIfExists = (path: string): string | undefined =>
  existsSync(path) ? readFileSync(path, 'utf8') : undefined;

/**
 * A scale-only run: replaces the Scale section of latest.md (or adds it before the timeline) and the
 * `scale` entry of latest.json, and leaves everything else (and timeline.svg) as the last full run wrote it.
 */
function writeScaleOnly(scale: ScaleResult, settings: Settings): void {
  const mdPath = join(settings.outDir, 'latest.md');
  const jsonPath = join(settings.outDir, 'latest.json');
  const section = renderScaleSection(scale);
  const markdown = withScaleSection(readIfExists(mdPath), section);
  let json: Record<string, unknown> = {};
  const previousJson = readIfExists(jsonPath);
  if (previousJson) {
    try {
      json = JSON.parse(previousJson) as Record<string, unknown>;
    } catch {
      json = {};
    }
  }
  json.scale = { ...scale, targets: buildScaleRows(scale) };
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(mdPath, markdown);
  process.stdout.write(`\n${section}\n`);
  log(`Scale section written to ${relative(process.cwd(), mdPath)} and latest.json; the rest kept`);
}

function writeResults(
  results: BenchResults,
  settings: Settings,
  panels: TimelinePanel[],
  groups: Group[],
): void {
  mkdirSync(settings.outDir, { recursive: true });
  if (isScaleOnly(settings)) {
    if (results.scale) writeScaleOnly(results.scale, settings);
    else log('the scale run failed: nothing written');
    return;
  }
  // A run without the scale part keeps the Scale section (and its own run header) of the last one.
  const keptScaleSection = results.scale
    ? undefined
    : scaleSectionOf(readIfExists(join(settings.outDir, 'latest.md')));
  let keptScaleJson: unknown;
  if (!results.scale) {
    try {
      keptScaleJson = (
        JSON.parse(readIfExists(join(settings.outDir, 'latest.json')) ?? '{}') as { scale?: unknown }
      ).scale;
    } catch {
      keptScaleJson = undefined;
    }
  }
  const timeline = groups.map((group) => {
    const origin = group.cluster.startedAt;
    return {
      cluster: group.cluster.options.name,
      mode: results.modes[group.mode].mode.label,
      table: group.cluster.options.table,
      leaderships: leadIntervals(group.cluster, group.cluster.endedAt ?? now()).map((i) => ({
        instance: i.child.label,
        election: i.election,
        term: i.term,
        fromMs: round(i.start - origin, 1),
        toMs: round(i.end - origin, 1),
      })),
      signals: group.cluster.marks.map((mark) => ({
        instance: mark.child.label,
        signal: mark.kind === 'kill' ? 'SIGKILL' : 'SIGTERM',
        atMs: round(mark.t - origin, 1),
      })),
    };
  });
  const json = {
    ...results,
    scale: results.scale ? { ...results.scale, targets: buildScaleRows(results.scale) } : keptScaleJson,
    settings: { ...settings, scenarios: [...settings.scenarios], outDir: relative(ROOT, settings.outDir) },
    targets: buildTargetRows(results),
    timeline: timeline.filter((entry) => entry.signals.length > 0 || entry.leaderships.length <= 20),
  };
  writeFileSync(join(settings.outDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  const markdown = renderMarkdown(results, keptScaleSection);
  writeFileSync(join(settings.outDir, 'latest.md'), markdown);
  writeFileSync(
    join(settings.outDir, 'timeline.svg'),
    renderTimeline(
      panels,
      `nestjs-leader-election: leadership per instance (${results.generatedAt.slice(0, 19)}Z, ${settings.quick ? 'quick' : 'full'} run)`,
    ),
  );
  process.stdout.write(`\n${markdown}\n`);
  log(`results written to ${relative(process.cwd(), settings.outDir) || '.'}/latest.{json,md}, timeline.svg`);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (interrupted) log('interrupted: candidates and servers stopped, no results written');
    else log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(interrupted ? 130 : 1);
  },
);
