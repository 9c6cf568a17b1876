// The edgetwin command. Each subcommand lives in its own file under commands/ and registers itself here.
import { readFileSync } from 'node:fs';
import { UsageError } from '@edgetwin/device-controller/cli/common';
import { Command, CommanderError } from 'commander';
import { commandsFor } from './commands/index.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('edgetwin')
  .description('KubeEdge-compatible device management: devices in YAML, a persisted twin, MQTT mappers')
  .version(version, '--version', 'print the edgetwin version')
  .showHelpAfterError()
  .exitOverride();

for (const register of await commandsFor(process.argv.slice(2))) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed the message; usage errors exit 2 across the CLI
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  const err = e as Error;
  console.error(`edgetwin: ${err.message}`);
  // a usage mistake found inside a command (an unknown --example, say) exits 2 like commander's own
  process.exit(e instanceof UsageError ? 2 : 1);
}
