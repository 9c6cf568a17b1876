#!/usr/bin/env node
// The edgetwin command. Runs the production bundle (`npm run build`, packages/cli/dist) when there is one and
// it is not older than the sources; otherwise the TypeScript sources directly (tsx), so a fresh clone needs
// no build step (issue 15, "Shipping"). EDGETWIN_FROM_SOURCE=1 always runs the sources (the tests do).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/edgetwin.js', import.meta.url);

/** Newest modification time (ms) of the .ts files under dir; 0 if there are none. */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** A bundle built before the last edit of a source would run old code: a checkout being worked on. */
function bundleIsCurrent() {
  const built = statSync(dist).mtimeMs;
  const packages = fileURLToPath(new URL('../../', import.meta.url));
  for (const p of readdirSync(packages)) {
    const src = `${packages}${p}/src`;
    if (existsSync(src) && newestSource(src) > built) return false;
  }
  // the examples' apps are in the bundle too (dist/examples/)
  const examples = fileURLToPath(new URL('../../../examples', import.meta.url));
  return !existsSync(examples) || newestSource(examples) <= built;
}

if (process.env.EDGETWIN_FROM_SOURCE !== '1' && existsSync(dist) && bundleIsCurrent()) {
  // source maps stay off (a few MiB of memory): NODE_OPTIONS=--enable-source-maps turns them on
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
