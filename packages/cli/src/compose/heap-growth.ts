// How far V8 lets the edge process's heap grow past what is live (issue 15, target 3: edge RSS < 100 MiB with
// 1,000 devices; bench/shipping.ts). After each full collection V8 sets the next limit at up to 4x the live
// heap, so an edge with ~30 MB live held ~115 MB of old generation between collections (--trace-gc). A growing
// factor of 1.2 keeps the limit near what is live instead: no fixed cap, so a gateway with more devices grows
// with them rather than dying at a limit. V8 reads the factor at each collection, so setting it at start works.
// EDGETWIN_HEAP_GROWING_PERCENT overrides it; 0 leaves V8's own. deferOptimizer (below): the other V8
// setting of the edge process.
import { setFlagsFromString } from 'node:v8';

export const DEFAULT_HEAP_GROWING_PERCENT = 20;

/** Sets V8's heap growing factor for this process; returns the percent set (0: V8's default kept). */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.EDGETWIN_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000)
    throw new Error(
      `EDGETWIN_HEAP_GROWING_PERCENT=${raw}: expected a whole number of percent, 0-1000 (0: V8's default)`,
    );
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}

/**
 * V8's optimizing compiler (TurboFan) stays off while the edge (or `up`) starts and comes on once it is up
 * (issue 15, target 3: edge RSS < 70 MiB idle; target 4: `up` ready < 2 s, ~0.25 s less CPU). Start-up code runs once, yet loops in it (module loading, opening the
 * stores) got optimized: the compiler's zones (~8 MiB of malloc at peak) and its pages of the Node binary were
 * touched, and glibc and the kernel keep them resident in an idle edge. After start the optimizer is on as
 * usual, so an edge with many devices optimizes what is hot. V8 reads the flag at each tiering decision.
 * EDGETWIN_OPTIMIZE_AT_START=1 keeps it on from the start. Returns the function that turns it on.
 */
export function deferOptimizer(env: NodeJS.ProcessEnv = process.env): () => void {
  if (env.EDGETWIN_OPTIMIZE_AT_START === '1') return () => undefined;
  setFlagsFromString('--no-opt');
  return () => setFlagsFromString('--opt');
}
