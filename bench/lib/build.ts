import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { transformSync } from '@swc/core';
import { ROOT } from './child';

const LIBRARY = join(ROOT, 'libs', 'leader-election', 'src');
/** The child entry points, compiled with the library. */
const ENTRIES = [
  'candidate.ts',
  'light-candidate.ts',
  'micro.ts',
  'idle-app.ts',
  'floor-candidate.ts',
  'lib/commands.ts',
].map((name) => join(ROOT, 'bench', name));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Compiles the library's source and the child entry points to plain JavaScript under
 * node_modules/.cache/nestjs-leader-election-bench/<pid>/ (inside the repository, so that the packages
 * resolve; ignored by git, ESLint and Prettier), with the swc settings of
 * tools/register-ts.js. The candidates then start without a compiler in their process: their
 * start-up time and RSS are those of a deployed application, not of a TypeScript loader.
 * The children's own helper (bench/lib/commands.ts) is compiled with them. Returns the directory;
 * `removeBuild` deletes it.
 */
export function buildChildren(): string {
  const base = join(ROOT, 'node_modules', '.cache', 'nestjs-leader-election-bench');
  removeStaleBuilds(base);
  const out = join(base, String(process.pid));
  rmSync(out, { recursive: true, force: true });
  const libraryOut = join(out, relative(ROOT, LIBRARY));
  for (const file of [...sources(LIBRARY), ...ENTRIES]) {
    const { code } = transformSync(readFileSync(file, 'utf8'), {
      filename: file,
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    });
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    // The package name resolves to the compiled source, as register-ts.js does for the TypeScript.
    let toLibrary = relative(dirname(target), libraryOut);
    if (!toLibrary.startsWith('.')) toLibrary = `./${toLibrary}`;
    writeFileSync(
      target,
      code.replace(/require\((["'])nestjs-leader-election\1\)/g, `require("${toLibrary}")`),
    );
  }
  return out;
}

/** Removes builds left by benches that were killed outright (their pid no longer runs). */
function removeStaleBuilds(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') removeBuild(join(base, name));
    }
  }
}

export function removeBuild(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
