// The benchmark's results file: a run of the scale part alone (`npm run bench -- --scale`) replaces only
// the Scale section of bench/results/latest.md and keeps the other sections of the last full run.
import { SCALE_BEGIN, SCALE_END, scaleSectionOf, withScaleSection } from '../bench/lib/report';

const full = [
  '# nestjs-leader-election benchmark',
  '',
  'Generated 2026-01-01T00:00:00.000Z by `npm run bench` in 900 s, library source abc1234.',
  '',
  '## Targets',
  '',
  '| area | measure | target | poll | doorbell |',
  '',
  '## Timeline',
  '',
  '![timeline](timeline.svg)',
  '',
  '## Details',
  '',
].join('\n');

const section = (run: string) =>
  `${SCALE_BEGIN}\n## Scale\n\nRun ${run} by \`npm run bench -- --scale\`.\n\n${SCALE_END}`;

describe('bench results: the Scale section of latest.md', () => {
  it('adds the Scale section before the timeline of a full run that has none, and keeps the rest as it was', () => {
    const merged = withScaleSection(full, section('2026-02-02'));
    expect(scaleSectionOf(merged)).toBe(section('2026-02-02'));
    expect(merged.replace(`${section('2026-02-02')}\n\n`, '')).toBe(full);
    expect(merged.indexOf(SCALE_BEGIN)).toBeLessThan(merged.indexOf('## Timeline'));
    expect(merged.indexOf('## Targets')).toBeLessThan(merged.indexOf(SCALE_BEGIN));
  });

  it('replaces only the previous Scale section, with its own run header, on a second scale-only run', () => {
    const once = withScaleSection(full, section('2026-02-02'));
    // `$&` in the new section must be taken literally, not as a replacement pattern.
    const twice = withScaleSection(once, section('2026-03-03 $& $1'));
    expect(scaleSectionOf(twice)).toBe(section('2026-03-03 $& $1'));
    expect(twice).not.toContain('2026-02-02');
    expect(twice.replace(`${section('2026-03-03 $& $1')}\n\n`, '')).toBe(full);
  });

  it('writes a file of the Scale section alone when there are no results yet', () => {
    const alone = withScaleSection(undefined, section('2026-02-02'));
    expect(alone.startsWith('# nestjs-leader-election benchmark')).toBe(true);
    expect(scaleSectionOf(alone)).toBe(section('2026-02-02'));
  });

  it('finds no Scale section in a file without both markers', () => {
    expect(scaleSectionOf(full)).toBeUndefined();
    expect(scaleSectionOf(`${full}\n${SCALE_BEGIN}\n## Scale`)).toBeUndefined();
  });
});
