// Prints vitest's totals as one plain line ("N passed, N failed, N skipped"), read from its JSON report.
// With --fail-on-skip (the compatibility tier in .ci/run, issue 9 §1) a skipped test is a failure: each one
// is printed with its name, which carries the reason, and the exit code is 1.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const failOnSkip = args.includes('--fail-on-skip');
const file = args.find((a) => !a.startsWith('--')) ?? '.vitest-results.json';
const r = JSON.parse(readFileSync(file, 'utf8'));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
if (failOnSkip && (skipped > 0 || r.numPassedTests === 0)) {
  for (const suite of r.testResults ?? []) {
    for (const t of suite.assertionResults ?? []) {
      if (t.status !== 'passed' && t.status !== 'failed') console.error(`skipped: ${t.fullName ?? t.title}`);
    }
  }
  console.error(`${file}: tests were skipped or none passed, and this run must not skip any`);
  process.exit(1);
}
