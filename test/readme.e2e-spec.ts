import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLeaseTableSql } from 'nestjs-leader-election';

// Every ```ts block of the README compiles as written, imports included: each block is a file of its own,
// type-checked with `tsc` (strict, the repository's settings) against the library's sources.

const ROOT = join(__dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Snippet {
  readonly file: string;
  readonly heading: string;
  readonly line: number;
  readonly code: string;
}

function snippets(): Snippet[] {
  const found: Snippet[] = [];
  let heading = '(top)';
  const lines = README.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const title = /^#{1,4} (.+)$/.exec(lines[i]);
    if (title) heading = title[1];
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    // A block whose first line is `// name.ts` is that file (so `main.ts` can import './app.module').
    const named = /^\/\/ ([\w.-]+\.ts)$/.exec(lines[start] ?? '');
    found.push({
      file: named ? named[1] : `snippet-${found.length + 1}.ts`,
      heading,
      line: start,
      code: lines.slice(start, end).join('\n'),
    });
    i = end;
  }
  return found;
}

const SNIPPETS = snippets();

describe('README TypeScript snippets', () => {
  let dir: string;
  let output = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'le-readme-'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const snippet of SNIPPETS) writeFileSync(join(dir, snippet.file), `${snippet.code}\n`);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { noEmit: true, types: ['node'] },
        files: SNIPPETS.map((snippet) => snippet.file),
        include: [],
      }),
    );
    const result = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'],
      { cwd: dir, encoding: 'utf8' },
    );
    output = `${result.stdout}${result.stderr}`;
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has snippets to check, and tsc reports no error outside them', () => {
    expect(SNIPPETS.length).toBeGreaterThan(5);
    expect(new Set(SNIPPETS.map((snippet) => snippet.file)).size).toBe(SNIPPETS.length);
    const elsewhere = output
      .split('\n')
      .filter(
        (line) =>
          line.trim() !== '' &&
          !line.startsWith(' ') &&
          !SNIPPETS.some((snippet) => line.startsWith(`${snippet.file}(`)),
      );
    expect(elsewhere).toEqual([]);
  });

  it.each(
    SNIPPETS.map((snippet) => [
      `${snippet.file} (README line ${snippet.line}, "${snippet.heading}")`,
      snippet,
    ]),
  )('%s compiles as written', (_, snippet) => {
    const errors = output
      .split('\n')
      .filter((line) => line.startsWith(`${snippet.file}(`))
      .map((line) =>
        line.replace(
          /^[\w.-]+\.ts\((\d+),(\d+)\)/,
          (_, row, col) => `README line ${snippet.line + Number(row)}:${col}`,
        ),
      );
    expect(errors).toEqual([]);
  });

  it('shows the DDL exactly as createLeaseTableSql() returns it', () => {
    const block = /```sql\n(CREATE TABLE IF NOT EXISTS `leader_election_lease`[\s\S]*?)\n```/.exec(README);
    expect(block?.[1]).toBe(createLeaseTableSql());
  });
});
