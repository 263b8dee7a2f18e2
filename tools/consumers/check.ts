// Consumers of the packed tarball, as users install it: `npm pack`s the library into a temp dir, then for
// each consumer kind (ESM Nest 12, CommonJS Nest 11) installs the tarball and its peers from the npm
// registry into a fresh project, type-checks and compiles tools/consumers/app/main.ts with `tsc`, and runs
// two instances of it against MariaDB/MySQL (a database of its own): one leads, its @LeaderOnly()
// @Interval job writes through runFenced and assertLeader, SIGTERM to the leader hands over to the other,
// /health answers 200; all without @opentelemetry/api (the optional peer of the metrics). One line per
// check; exit code 1 when any failed. Ends with "consumers: N passed, N failed" (.ci/run adds these to
// Jest's counts).
//
//   node -r ./tools/register-ts.js tools/consumers/check.ts [--only=esm|cjs] [--keep]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import {
  canConnect,
  DEFAULT_MYSQL_URL,
  freePort,
  startThrowawayServer,
  type ThrowawayServer,
} from '../mysql-server';
import { packLibrary, REPO_ROOT } from '../pack-library';

interface ConsumerKind {
  readonly name: string;
  readonly label: string;
  /** package.json fields besides dependencies. */
  readonly manifest: Record<string, unknown>;
  readonly dependencies: Record<string, string>;
  readonly compilerOptions: Record<string, unknown>;
}

const COMMON_DEPENDENCIES = {
  kysely: '~0.28.0',
  mysql2: '^3.9.0',
  'reflect-metadata': '^0.2.0',
  rxjs: '^7.8.0',
  typescript: '~5.9.0',
  '@types/node': '^20.19.0',
};
const COMMON_COMPILER_OPTIONS = {
  target: 'ES2022',
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  skipLibCheck: false,
  outDir: 'dist',
  rootDir: 'src',
  types: ['node'],
};

const KINDS: readonly ConsumerKind[] = [
  {
    name: 'esm',
    label: 'ESM, Nest 12',
    manifest: { type: 'module' },
    dependencies: {
      '@nestjs/common': '^12.0.0',
      '@nestjs/core': '^12.0.0',
      '@nestjs/platform-express': '^12.0.0',
      '@nestjs/schedule': '^12.0.0',
      '@nestjs/terminus': '^12.0.0',
    },
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
  },
  {
    name: 'cjs',
    label: 'CommonJS, Nest 11',
    manifest: {},
    dependencies: {
      '@nestjs/common': '^11.0.0',
      '@nestjs/core': '^11.0.0',
      '@nestjs/platform-express': '^11.0.0',
      '@nestjs/schedule': '^6.0.0',
      '@nestjs/terminus': '^11.0.0',
    },
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
  },
];

const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
const keep = process.argv.includes('--keep');
let passed = 0;
let failed = 0;

function report(ok: boolean, what: string, detail?: string): boolean {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}`);
  if (!ok && detail) console.log(detail.replace(/^/gm, '      '));
  return ok;
}

interface RunResult {
  readonly code: number | null;
  readonly output: string;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tail = (text: string, lines = 25) => text.trim().split('\n').slice(-lines).join('\n');

function installedVersion(project: string, name: string): string {
  try {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', name, 'package.json'), 'utf8'));
    return `${name}@${manifest.version}`;
  } catch {
    return `${name}@?`;
  }
}

/** Writes the consumer project; returns its directory. */
function createProject(root: string, kind: ConsumerKind, tarball: string): string {
  const project = join(root, kind.name);
  mkdirSync(join(project, 'src'), { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: `consumer-${kind.name}`,
        private: true,
        ...kind.manifest,
        dependencies: {
          'nestjs-leader-election': `file:${tarball}`,
          ...kind.dependencies,
          ...COMMON_DEPENDENCIES,
        },
      },
      null,
      2,
    ),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify(
      { compilerOptions: { ...COMMON_COMPILER_OPTIONS, ...kind.compilerOptions }, include: ['src'] },
      null,
      2,
    ),
  );
  copyFileSync(join(REPO_ROOT, 'tools', 'consumers', 'app', 'main.ts'), join(project, 'src', 'main.ts'));
  return project;
}

interface Instance {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  output: string;
}

function startInstance(project: string, name: string, port: number, mysqlUrl: string): Instance {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: project,
    env: { ...process.env, MYSQL_URL: mysqlUrl, PORT: String(port), INSTANCE: name },
  });
  const instance: Instance = { name, port, child, output: '' };
  child.stdout?.on('data', (chunk: Buffer) => (instance.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (instance.output += chunk.toString()));
  return instance;
}

async function getJson(
  port: number,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1_000) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  } catch {
    return undefined;
  }
}

/** Polls until `predicate` returns a value, or `timeoutMs` passes (then `undefined`). */
async function until<T>(timeoutMs: number, predicate: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await predicate();
    if (value !== undefined) return value;
    await sleep(100);
  }
  return undefined;
}

async function leaders(instances: Instance[]): Promise<{ instance: Instance; term: number }[]> {
  const states = await Promise.all(
    instances.map(async (instance) => ({ instance, state: await getJson(instance.port, '/leader') })),
  );
  return states
    .filter(({ state }) => state?.body.leader === true)
    .map(({ instance, state }) => ({ instance, term: Number(state!.body.term) }));
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode ?? child.signalCode);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
  });
}

/** Two instances against a database of their own: election, fenced job, handover on SIGTERM, health. */
async function processCheck(kind: ConsumerKind, project: string, serverUrl: string): Promise<void> {
  const database = `le_consumer_${kind.name}_${randomBytes(3).toString('hex')}`;
  const admin = await createConnection({ uri: serverUrl });
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const mysqlUrl = url.toString();
  const instances: Instance[] = [];
  try {
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.query(
      `CREATE TABLE \`${database}\`.consumer_ledger (id INT AUTO_INCREMENT PRIMARY KEY, ` +
        `term BIGINT NOT NULL, instance VARCHAR(64) NOT NULL, kind VARCHAR(32) NOT NULL)`,
    );
    for (const name of ['a', 'b']) {
      instances.push(startInstance(project, `${kind.name}-${name}`, await freePort(), mysqlUrl));
    }
    const output = () => instances.map((i) => `[${i.name}]\n${tail(i.output, 15)}`).join('\n');

    // Both answer, and exactly one of them leads.
    const first = await until(30_000, async () => {
      const states = await Promise.all(instances.map((i) => getJson(i.port, '/leader')));
      if (states.some((state) => state === undefined)) return undefined;
      const found = await leaders(instances);
      return found.length === 1 ? found[0] : undefined;
    });
    if (
      !report(
        first !== undefined,
        `${kind.label}: two instances of the compiled app start; exactly one leads` +
          (first ? ` (${first.instance.name}, term ${first.term})` : ''),
        output(),
      )
    ) {
      return;
    }
    if (!first) return;

    const ledger = await until(10_000, async () => {
      const [rows] = await admin.query(
        `SELECT kind, term, instance FROM \`${database}\`.consumer_ledger ORDER BY id`,
      );
      const list = rows as { kind: string; term: number; instance: string }[];
      const kinds = new Set(list.map((row) => row.kind));
      return kinds.has('runFenced') && kinds.has('assertLeader') ? list : undefined;
    });
    report(
      ledger !== undefined && ledger.every((row) => row.instance === first.instance.name),
      `${kind.label}: the leader's @LeaderOnly() @Interval job writes through runFenced and assertLeader ` +
        `(${ledger?.length ?? 0} rows, all by the leader)`,
      output(),
    );

    const follower = instances.find((i) => i !== first.instance)!;
    const sentAt = Date.now();
    first.instance.child.kill('SIGTERM');
    const next = await until(10_000, async () => {
      const found = await leaders([follower]);
      return found[0];
    });
    const handoverMs = Date.now() - sentAt;
    const exitCode = await exited(first.instance.child, 15_000);
    report(
      next !== undefined && next.term > first.term && (exitCode === 0 || exitCode === 'SIGTERM'),
      `${kind.label}: SIGTERM to the leader hands over to ${follower.name}` +
        (next ? ` in ${handoverMs} ms (term ${first.term} -> ${next.term})` : '') +
        // Nest re-raises the signal after its shutdown hooks ran: SIGTERM is a clean exit here.
        `; the old leader exits (${exitCode}) after its shutdown hooks`,
      output(),
    );

    const health = await getJson(follower.port, '/health');
    report(
      health?.status === 200 && health.body.status === 'ok',
      `${kind.label}: GET /health answers ${health?.status ?? 'nothing'} on the new leader`,
      JSON.stringify(health?.body),
    );
  } finally {
    for (const instance of instances) {
      if (instance.child.exitCode === null && instance.child.signalCode === null) {
        instance.child.kill('SIGTERM');
        if ((await exited(instance.child, 10_000)) === 'still running') instance.child.kill('SIGKILL');
      }
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
}

async function checkConsumer(kind: ConsumerKind, project: string, installed: RunResult, serverUrl: string) {
  const versions = ['@nestjs/common', '@nestjs/core', '@nestjs/schedule', '@nestjs/terminus', 'kysely']
    .map((name) => installedVersion(project, name))
    .join(', ');
  if (
    !report(
      installed.code === 0,
      `${kind.label}: npm install of the tarball and peers from the registry (${versions})`,
      tail(installed.output),
    )
  ) {
    return;
  }
  // The optional peer of the metrics is not installed here: the app below must compile and run without it.
  report(
    !existsSync(join(project, 'node_modules', '@opentelemetry', 'api')),
    `${kind.label}: @opentelemetry/api (optional peer, metrics) is not installed, and the checks below run without it`,
  );
  const compiled = await run(join(project, 'node_modules', '.bin', 'tsc'), ['-p', '.'], project, 120_000);
  if (
    !report(
      compiled.code === 0,
      `${kind.label}: tsc type-checks and compiles the app (forRoot, @LeaderOnly + @Interval, ` +
        `runFenced(this.db), assertLeader(trx), health module) with ${JSON.stringify(kind.compilerOptions)}`,
      tail(compiled.output),
    )
  ) {
    return;
  }
  await processCheck(kind, project, serverUrl);
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'le-consumers-'));
  let throwaway: ThrowawayServer | undefined;
  try {
    let serverUrl = process.env.MYSQL_URL || DEFAULT_MYSQL_URL;
    if (!(await canConnect(serverUrl))) {
      console.log('No server answers at MYSQL_URL: starting a throwaway MariaDB/MySQL.');
      throwaway = await startThrowawayServer();
      serverUrl = throwaway.url;
    }
    let tarball: string;
    try {
      const packed = packLibrary(root);
      tarball = packed.tarball;
      report(true, `npm pack: ${packed.files.length} files in ${tarball.split('/').pop()}`);
    } catch (error) {
      report(false, 'npm pack of libs/leader-election', String(error));
      return 1;
    }
    const kinds = KINDS.filter((kind) => !only || kind.name === only);
    const projects = kinds.map((kind) => createProject(root, kind, tarball));
    // Both installs at once: most of the time is the registry's.
    const installs = await Promise.all(
      projects.map((project) =>
        run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], project, 150_000),
      ),
    );
    for (const [i, kind] of kinds.entries()) {
      await checkConsumer(kind, projects[i], installs[i], serverUrl);
    }
  } catch (error) {
    report(false, 'consumer check ran to the end', error instanceof Error ? error.stack : String(error));
  } finally {
    await throwaway?.stop();
    if (keep) console.log(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
  console.log(
    `consumers: ${passed} passed, ${failed} failed (${((Date.now() - startedAt) / 1000).toFixed(0)} s)`,
  );
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
