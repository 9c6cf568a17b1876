// edgetwin delete -f FILE|DIR|- ...: deletes the objects the files name (all or nothing).
import {
  readManifests,
  runCommand,
  controllerClient,
  withConnectionOptions,
} from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export const registerDelete: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('delete')
      .description('delete the Devices and DeviceModels named in YAML files (devices before their models)')
      .requiredOption(
        '-f, --filename <path>',
        'manifest file, directory of manifests, or - for stdin (repeatable)',
        collect,
      ),
  ).action((opts: { filename: string[]; server?: string; dataDir?: string }) =>
    runCommand(async () => {
      const files = readManifests(opts.filename);
      const { results } = await controllerClient(opts).delete(files);
      for (const r of results) console.log(`${r.kind.toLowerCase()}.devices.kubeedge.io/${r.name} deleted`);
    }),
  );
};
