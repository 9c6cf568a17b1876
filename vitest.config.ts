import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts', 'hardware-tests/**/*.test.ts'],
    // Integration tests start brokers, SQLite files and simulators on loopback; two cores here.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // the CLI the tests spawn runs the sources, never a bundle left by `npm run build` (bin/edgetwin.js)
    env: { EDGETWIN_FROM_SOURCE: '1' },
  },
});
