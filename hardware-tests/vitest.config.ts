// The hardware tests on their own (issue 18): on a Raspberry Pi (`npx vitest run --config
// hardware-tests/vitest.config.ts`) or inside the real-kernel VM (scripts/vm/hardware-tier.sh).
// One worker: the tests share one GPIO chip and one Bluetooth controller; timeouts allow for a VM
// without KVM, where Node runs 5-10x slower.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['hardware-tests/**/*.test.ts'],
    exclude: ['hardware-tests/vm-tier.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
