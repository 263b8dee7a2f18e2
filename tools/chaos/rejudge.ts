// Judges a recorded chaos run again with today's checkers and report (after a change to either):
//
//   node -r ./tools/register-ts.js tools/chaos/rejudge.ts <out>     (<out> as given to --out)
//
// Reads <out>.json (the run's settings) and <out>.history.json (what happened), rewrites <out>.json and
// <out>.md. The history is not touched: the verdicts are pure functions of it.
import { readFileSync, writeFileSync } from 'node:fs';
import { checkAll, type ChaosHistory } from './checkers';
import { renderReport, summarize, type ChaosSummary } from './report';

function main(): number {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: rejudge.ts <out>  (reads <out>.json and <out>.history.json)\n');
    return 2;
  }
  const previous = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as ChaosSummary;
  const history = JSON.parse(readFileSync(`${out}.history.json`, 'utf8')) as ChaosHistory;
  const { run } = previous;
  const mix = run.mix.split(',').map((part) => {
    const [kind, weight] = part.split('=');
    return { kind, weight: Number(weight) };
  });
  const summary = summarize(
    {
      faults: run.limits.faults,
      durationS: run.limits.durationS,
      seed: run.seed,
      candidates: run.candidates,
      mix,
      timing: run.timing,
      galera: run.database !== undefined && run.database.includes('Galera'),
    },
    history,
    checkAll(history),
    {
      started: run.started,
      finished: run.finished,
      interrupted: run.interrupted,
      error: run.error,
      pids: [...run.pids],
      ...(previous.rejoinRestarts !== undefined ? { rejoinRestarts: previous.rejoinRestarts } : {}),
      ...(previous.clusterRecoveries !== undefined
        ? { failedRestarts: previous.clusterRecoveries.failedRestarts }
        : {}),
    },
  );
  writeFileSync(`${out}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(`${out}.md`, renderReport(summary));
  // A run that ended on an error (as the harness counts it) fails whatever the checks say.
  const failed = summary.checks.filter((check) => !check.ok).length + (run.error === null ? 0 : 1);
  for (const check of summary.checks) {
    process.stdout.write(`rejudge: ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
  }
  if (run.error !== null)
    process.stdout.write(`rejudge: FAIL the run ended on an error: ${run.error.split('\n')[0]}\n`);
  process.stdout.write(`rejudge: ${out}.md, ${out}.json: ${failed === 0 ? 'PASS' : 'FAIL'}\n`);
  return failed === 0 ? 0 : 1;
}

process.exit(main());
