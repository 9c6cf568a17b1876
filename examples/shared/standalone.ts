// Lets an example's app.ts run on its own (`node packages/cli/bin/run-ts.js examples/<name>/app.ts
// --broker mqtt://127.0.0.1:1883 --node edge-node-1`) while importing it starts nothing.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';

/** True when the module at `moduleUrl` is the script node was asked to run. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === moduleUrl;
}

/** A bad command-line option: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function defaultLogger(name: string): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info' });
}

export interface StandaloneArgs {
  brokerUrl: string;
  node: string;
  /** the remaining --key value options, for the app's own settings */
  extra: Record<string, string | undefined>;
}

/**
 * Parses `--broker URL --node NAME` plus the app's own string options. Throws a usage error naming the
 * bad option.
 */
export function parseStandaloneArgs(argv: string[], extraOptions: string[] = []): StandaloneArgs {
  const options: Record<string, { type: 'string' }> = { broker: { type: 'string' }, node: { type: 'string' } };
  for (const o of extraOptions) options[o] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const brokerUrl = (values.broker as string | undefined) ?? 'mqtt://127.0.0.1:1883';
  if (!/^mqtts?:\/\//.test(brokerUrl))
    throw new Error(`--broker must be an mqtt:// or mqtts:// URL, got "${brokerUrl}"`);
  const extra: Record<string, string | undefined> = {};
  for (const o of extraOptions) extra[o] = values[o] as string | undefined;
  return { brokerUrl, node: (values.node as string | undefined) ?? 'edge-node-1', extra };
}

/** Runs `start` until SIGINT/SIGTERM, then stops it; a start or usage error exits 1 (2 for usage). */
export async function runStandalone(
  name: string,
  extraOptions: string[],
  start: (args: StandaloneArgs, logger: Logger) => Promise<{ stop(): Promise<void> }>,
): Promise<void> {
  const logger = defaultLogger(name);
  let args: StandaloneArgs;
  try {
    args = parseStandaloneArgs(process.argv.slice(2), extraOptions);
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
    process.exit(2);
  }
  try {
    const app = await start(args, logger);
    const shutdown = () => {
      app.stop().then(
        () => process.exit(0),
        (e: Error) => {
          logger.error({ err: e }, 'stop failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${name}: ${e.message}`);
      process.exit(2);
    }
    logger.error({ err: e, broker: args.brokerUrl }, `${name} could not start`);
    process.exit(1);
  }
}
