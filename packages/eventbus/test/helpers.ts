// Shared test plumbing: everything started in a test is registered here and torn down afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { BusClient } from '../src/contracts.js';
import { connectBus } from '../src/index.js';
import { type EmbeddedBroker, startTestBroker } from '../src/testing.js';

const cleanups: Array<() => Promise<unknown>> = [];

export function useCleanup(): void {
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
}

export function onCleanup(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}

export async function broker(opts: Parameters<typeof startTestBroker>[0] = {}): Promise<EmbeddedBroker> {
  const b = await startTestBroker(opts);
  onCleanup(() => b.close());
  return b;
}

export async function client(url: string, extra: Partial<Parameters<typeof connectBus>[0]> = {}): Promise<BusClient> {
  const c = await connectBus({ url, connectTimeoutMs: 3000, backoffMs: 50, maxBackoffMs: 400, ...extra });
  onCleanup(() => c.close());
  return c;
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `edgetwin-eventbus-${prefix}-`));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolve on the next call of a subscribe-style event registration, with its argument. */
export function nextEvent<T>(register: (l: (v: T) => void) => () => void, what: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const off = register((v) => {
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}
