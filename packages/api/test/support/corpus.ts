// The broken-manifest corpus: each file in fixtures/broken/ starts with `# expect: <line>`, the exact
// finding it must produce after its own path and a colon.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BROKEN_DIR = fileURLToPath(new URL('../fixtures/broken/', import.meta.url));
/** How the CLI names the corpus files when run from the repository root. */
export const BROKEN_DIR_FROM_ROOT = 'packages/api/test/fixtures/broken';

export interface BrokenCase {
  file: string;
  text: string;
  /** the finding line without the leading `file:` */
  expect: string;
}

export function brokenCases(): BrokenCase[] {
  return readdirSync(BROKEN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(BROKEN_DIR, file), 'utf8');
      const m = /^# expect: (.+)$/m.exec(text);
      if (m === null) throw new Error(`${file}: no "# expect:" line`);
      return { file, text, expect: m[1] as string };
    });
}
