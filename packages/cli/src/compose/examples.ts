// The runnable demos under examples/: each has manifests/ and an app.ts exporting startApp.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { importTs } from './import-ts.js';
import { UsageError } from './manifest-files.js';

export const EXAMPLES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../examples');

export interface Example {
  name: string;
  manifestsDir: string;
  appFile: string | undefined;
}

export function listExamples(): Example[] {
  if (!existsSync(EXAMPLES_DIR)) return [];
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(EXAMPLES_DIR, d.name, 'manifests')))
    .map((d) => {
      const app = join(EXAMPLES_DIR, d.name, 'app.ts');
      return {
        name: d.name,
        manifestsDir: join(EXAMPLES_DIR, d.name, 'manifests'),
        appFile: existsSync(app) ? app : undefined,
      };
    });
}

export function findExample(name: string): Example {
  const all = listExamples();
  const found = all.find((e) => e.name === name);
  if (!found) throw new UsageError(`unknown example "${name}" (known: ${all.map((e) => e.name).join(', ') || 'none'})`);
  return found;
}

interface ExampleApp {
  startApp(opts: { brokerUrl: string; node: string; logger?: Logger }): Promise<{ stop(): Promise<void> }>;
}

export async function startExampleApp(
  example: Example,
  opts: { brokerUrl: string; node: string; logger: Logger },
): Promise<{ stop(): Promise<void> } | undefined> {
  if (!example.appFile) return undefined;
  const mod = await importTs<Partial<ExampleApp>>(example.appFile);
  if (typeof mod.startApp !== 'function') return undefined;
  return mod.startApp({ brokerUrl: opts.brokerUrl, node: opts.node, logger: opts.logger.child({ app: example.name }) });
}
