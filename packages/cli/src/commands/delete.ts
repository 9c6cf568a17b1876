// edgetwin delete -f FILE|DIR|- ...: deletes the objects the files name (all or nothing).
import { ControllerClient } from '@edgetwin/device-controller/http/client';
import { defaultServer, readManifests, runCommand, SERVER_HELP } from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export const registerDelete: RegisterCommand = (program: Command) => {
  program
    .command('delete')
    .description('delete the Devices and DeviceModels named in YAML files (devices before their models)')
    .requiredOption(
      '-f, --filename <path>',
      'manifest file, directory of manifests, or - for stdin (repeatable)',
      collect,
    )
    .option('--server <url>', SERVER_HELP, defaultServer())
    .action((opts: { filename: string[]; server: string }) =>
      runCommand(async () => {
        const files = readManifests(opts.filename);
        const { results } = await new ControllerClient(opts.server).delete(files);
        for (const r of results) console.log(`${r.kind.toLowerCase()}.devices.kubeedge.io/${r.name} deleted`);
      }),
    );
};
