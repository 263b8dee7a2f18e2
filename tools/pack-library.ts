import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The repository's root directory. */
export const REPO_ROOT = join(__dirname, '..');
const LIBRARY = join(REPO_ROOT, 'libs', 'leader-election');

/** What `npm pack --json` reports about one tarball. */
export interface PackedLibrary {
  /** Absolute path of the `.tgz`. */
  readonly tarball: string;
  /** Every path inside the package, relative to its root, sorted. */
  readonly files: readonly string[];
}

/**
 * Packs the library as a release would, into `destination`: from a fresh copy of its sources with no
 * `dist/` (so the tarball holds only what `prepack` builds), never touching the working tree's own
 * `dist/` that other tests and the demo use. The copy sees the repository's `node_modules` and root
 * tsconfig/README through the same relative paths as in the repository.
 */
export function packLibrary(destination: string): PackedLibrary {
  const work = mkdtempSync(join(tmpdir(), 'le-pack-src-'));
  try {
    const library = join(work, 'libs', 'leader-election');
    mkdirSync(library, { recursive: true });
    cpSync(join(REPO_ROOT, 'tsconfig.json'), join(work, 'tsconfig.json'));
    cpSync(join(REPO_ROOT, 'README.md'), join(work, 'README.md'));
    cpSync(LIBRARY, library, {
      recursive: true,
      filter: (source) => !/[\\/](dist|node_modules)$/.test(source),
    });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    const result = spawnSync('npm', ['pack', '--json', '--pack-destination', destination], {
      cwd: library,
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' },
    });
    if (result.status !== 0) {
      throw new Error(`npm pack failed (exit ${result.status}):\n${result.stderr}\n${result.stdout}`);
    }
    // Lifecycle scripts may print before the JSON report: it is the last top-level array.
    const start = result.stdout.lastIndexOf('\n[');
    const json = JSON.parse(result.stdout.slice(start < 0 ? 0 : start)) as {
      filename: string;
      files: { path: string }[];
    }[];
    return {
      tarball: join(destination, json[0].filename),
      files: json[0].files.map((file) => file.path).sort(),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
