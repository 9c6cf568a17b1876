// The edgetwin command. Each subcommand lives in its own file under commands/ and registers itself here.
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';

const program = new Command('edgetwin')
  .description('KubeEdge-compatible device management: devices in YAML, a persisted twin, MQTT mappers')
  .showHelpAfterError()
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed the message; usage errors exit 2 across the CLI
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  const err = e as Error;
  console.error(`edgetwin: ${err.message}`);
  process.exit(1);
}
