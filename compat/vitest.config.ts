// The compatibility tier (issue 9 §1): cross-checks against KubeEdge's own CRDs and samples, read from
// outside the repository (compat/kubeedge-fixtures.ts). Run with `npm run test:compat`; not part of `npm test`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../', import.meta.url)),
    include: ['compat/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    // the CLI the tests spawn runs the sources, never a bundle left by `npm run build` (bin/edgetwin.js)
    env: { EDGETWIN_FROM_SOURCE: '1' },
  },
});
