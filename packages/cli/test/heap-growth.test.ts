// The edge process keeps its heap near what is live (issue 15, target 3; compose/heap-growth.ts): a child
// process holds ~25 MB live and churns short-lived garbage; with limitHeapGrowth() its heap stays well under
// what V8's own growing factor lets it reach (the control run shows the difference is there to see).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { limitHeapGrowth } from '../src/compose/heap-growth.js';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-heap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CHILD = `const { limitHeapGrowth } = await import(${JSON.stringify(new URL('../src/compose/heap-growth.ts', import.meta.url).href)});
if (process.argv[2] === 'limited') limitHeapGrowth({});
const live = [];
for (let i = 0; i < 300_000; i++) live.push({ i, s: 'x' + i });
let most = 0;
let last;
for (let r = 0; r < 400; r++) {
  const garbage = [];
  for (let i = 0; i < 20_000; i++) garbage.push({ r, i, t: [i, r] });
  last = garbage;
  most = Math.max(most, process.memoryUsage().heapTotal);
}
console.log(JSON.stringify({ mib: most / 1048576, live: live.length, last: last.length }));
`;
writeFileSync(join(dir, 'child.mjs'), CHILD);

async function mostHeapMiB(mode: 'limited' | 'v8-default'): Promise<number> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--max-semi-space-size=1', join(dir, 'child.mjs'), mode],
    { timeout: 60_000 },
  );
  return (JSON.parse(stdout) as { mib: number }).mib;
}

describe('limitHeapGrowth', () => {
  it('keeps the heap near the live size where V8 alone lets it grow to several times that', async () => {
    const limited = await mostHeapMiB('limited');
    const unlimited = await mostHeapMiB('v8-default');
    expect(limited).toBeLessThan(70);
    expect(unlimited).toBeGreaterThan(limited * 1.5);
  }, 90_000);

  it('takes EDGETWIN_HEAP_GROWING_PERCENT, 0 for V8 default, and names a bad value', () => {
    expect(limitHeapGrowth({ EDGETWIN_HEAP_GROWING_PERCENT: '0' })).toBe(0);
    expect(() => limitHeapGrowth({ EDGETWIN_HEAP_GROWING_PERCENT: 'lots' })).toThrow(
      /EDGETWIN_HEAP_GROWING_PERCENT=lots: expected a whole number/,
    );
  });
});

describe('deferOptimizer', () => {
  // a child with V8's natives syntax reads whether a hot function got optimized: not while the edge starts,
  // yes once it is up (the returned function called); EDGETWIN_OPTIMIZE_AT_START=1 keeps the optimizer on
  const child = `const { deferOptimizer } = await import(${JSON.stringify(new URL('../src/compose/heap-growth.ts', import.meta.url).href)});
const up = deferOptimizer(process.argv[2] === 'keep' ? { EDGETWIN_OPTIMIZE_AT_START: '1' } : {});
const optimized = (f) => (eval('%GetOptimizationStatus(f)') & 16) !== 0;
function hot(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003; return s; }
function warm(f) { for (let k = 0; k < 2000 && !optimized(f); k++) f(20_000); return optimized(f); }
const atStart = warm(hot);
up();
const hot2 = new Function('n', 'let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003; return s;');
console.log(JSON.stringify({ atStart, afterUp: warm(hot) || warm(hot2) }));
`;
  const run = async (mode: string) => {
    writeFileSync(join(dir, 'opt.mjs'), child);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--allow-natives-syntax', join(dir, 'opt.mjs'), mode],
      { timeout: 60_000 },
    );
    return JSON.parse(stdout) as { atStart: boolean; afterUp: boolean };
  };

  it('optimizes nothing while the edge starts and what is hot once it is up', async () => {
    expect(await run('defer')).toEqual({ atStart: false, afterUp: true });
    expect(await run('keep')).toEqual({ atStart: true, afterUp: true });
  }, 90_000);
});
