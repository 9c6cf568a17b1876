// edgetwin apply -f FILE|DIR|- ...: sends manifest files to the controller, which validates and stores
// them; the controller's findings (file:line:col: kind/ns/name: path: message) are printed as they are.
import {
  outputFormat,
  readManifests,
  runCommand,
  controllerClient,
  withConnectionOptions,
} from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import YAML from 'yaml';
import type { RegisterCommand } from './index.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export const registerApply: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('apply')
      .description('create or update Devices and DeviceModels from YAML files (validated by the controller)')
      .requiredOption(
        '-f, --filename <path>',
        'manifest file, directory of manifests, or - for stdin (repeatable)',
        collect,
      )
      .option('-o, --output <format>', 'table (default), json or yaml'),
  ).action((opts: { filename: string[]; output?: string; server?: string; dataDir?: string }) =>
    runCommand(async () => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml']);
      const files = readManifests(opts.filename);
      const res = await controllerClient(opts).apply(files);
      for (const n of res.notices ?? []) console.error(n);
      if (format === 'json') console.log(JSON.stringify(res.results, null, 2));
      else if (format === 'yaml') process.stdout.write(YAML.stringify(res.results));
      else
        for (const r of res.results) console.log(`${r.kind.toLowerCase()}.devices.kubeedge.io/${r.name} ${r.action}`);
    }),
  );
};
