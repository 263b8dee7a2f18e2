import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { packLibrary, REPO_ROOT, type PackedLibrary } from '../tools/pack-library';

// The published tarball, packed from a copy of the sources without dist/ (so `prepack` must build it):
// exactly the built entry points and modules, the user's README, the licence and package.json.

const REPOSITORY = 'https://github.com/nestjs-leader-election/nestjs-leader-election';
const SOURCE = join(REPO_ROOT, 'libs', 'leader-election', 'src');

function sourceModules(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceModules(path);
    return entry.endsWith('.ts') && !entry.endsWith('.spec.ts') && !entry.endsWith('.d.ts')
      ? [relative(SOURCE, path).replace(/\\/g, '/').replace(/\.ts$/, '')]
      : [];
  });
}

describe('the packed library (npm pack)', () => {
  let out: string;
  let packed: PackedLibrary;
  let unpacked: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'le-pack-'));
    packed = packLibrary(out);
    unpacked = join(out, 'unpacked');
    execFileSync('mkdir', ['-p', unpacked]);
    execFileSync('tar', ['-xzf', packed.tarball, '-C', unpacked]);
  }, 180_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  const read = (path: string) => readFileSync(join(unpacked, 'package', path), 'utf8');

  it('holds exactly package.json, README.md, LICENSE and the js, d.ts and map of every module, built by prepack', () => {
    const modules = sourceModules(SOURCE);
    expect(modules).toEqual(expect.arrayContaining(['index', 'health/index', 'testing/index', 'cli/main']));
    const expected = [
      'LICENSE',
      'README.md',
      'package.json',
      ...modules.flatMap((module) => [`dist/${module}.js`, `dist/${module}.d.ts`, `dist/${module}.js.map`]),
    ].sort();
    const missing = expected.filter((file) => !packed.files.includes(file));
    const unexpected = packed.files.filter((file) => !expected.includes(file));
    expect({ missing, unexpected }).toEqual({ missing: [], unexpected: [] });
  });

  it('keeps the package README (committed, so that a pack without scripts has it too) equal to the root README', () => {
    expect(readFileSync(join(REPO_ROOT, 'libs/leader-election/README.md'), 'utf8')).toBe(
      readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'),
    );
  });

  it('ships the full README (the user documentation) and the MIT licence of the repository root', () => {
    expect(read('README.md')).toBe(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
    expect(read('README.md')).toContain('## Quick start');
    expect(read('LICENSE')).toBe(readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8'));
    expect(read('LICENSE')).toMatch(/^MIT License/);
  });

  it('declares the licence, repository, homepage and issue tracker, and builds on prepack', () => {
    const manifest = JSON.parse(read('package.json'));
    expect(manifest.license).toBe('MIT');
    expect(manifest.repository).toMatchObject({ type: 'git', url: `git+${REPOSITORY}.git` });
    expect(manifest.homepage).toBe(`${REPOSITORY}#readme`);
    expect(manifest.bugs).toEqual({ url: `${REPOSITORY}/issues` });
    expect(manifest.scripts?.prepack).toMatch(/build:lib/);
  });

  it('declares the nestjs-leader-election CLI, whose built file starts with a node shebang', () => {
    const manifest = JSON.parse(read('package.json'));
    expect(manifest.bin).toEqual({ 'nestjs-leader-election': 'dist/cli/main.js' });
    expect(read(manifest.bin['nestjs-leader-election']).split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('exports the testing entry point (nestjs-leader-election/testing) with its types', () => {
    const manifest = JSON.parse(read('package.json'));
    expect(manifest.exports['./testing']).toEqual({
      types: './dist/testing/index.d.ts',
      default: './dist/testing/index.js',
    });
    expect(manifest.typesVersions['*'].testing).toEqual(['dist/testing/index.d.ts']);
    expect(read('dist/testing/index.d.ts')).toContain('LeaderElectionTestingModule');
  });

  it('ships source maps that resolve: every source a map names has its content inside the map', () => {
    const maps = packed.files.filter((file) => file.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    const unresolved = maps.filter((file) => {
      const map = JSON.parse(read(file)) as { sources: string[]; sourcesContent?: (string | null)[] };
      return (
        map.sources.length === 0 ||
        map.sources.some((_, i) => typeof map.sourcesContent?.[i] !== 'string' || !map.sourcesContent[i])
      );
    });
    expect(unresolved).toEqual([]);
  });

  it('points to no file outside the repository (no shared/ or DESIGN.md) in code, types or README', () => {
    const offenders = packed.files.filter((file) => {
      const text = read(file).replace(/"sourcesContent":.*$/s, '');
      return /\bshared\/|DESIGN\.md/.test(text);
    });
    expect(offenders).toEqual([]);
  });
});
