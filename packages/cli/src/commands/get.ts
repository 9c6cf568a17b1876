// edgetwin get devices|devicemodels|nodes [NAME]: lists what the controller holds.
import {
  outputFormat,
  runCommand,
  UsageError,
  controllerClient,
  withConnectionOptions,
} from '@edgetwin/device-controller/cli/common';
import { deviceTable, modelTable, nodeTable } from '@edgetwin/device-controller/cli/present';
import type { Command } from 'commander';
import YAML from 'yaml';
import type { RegisterCommand } from './index.js';

const KINDS: Record<string, 'devices' | 'devicemodels' | 'nodes'> = {
  device: 'devices',
  devices: 'devices',
  dev: 'devices',
  devicemodel: 'devicemodels',
  devicemodels: 'devicemodels',
  dm: 'devicemodels',
  node: 'nodes',
  nodes: 'nodes',
};

export const registerGet: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('get')
      .description('list devices, devicemodels or nodes')
      .argument('<kind>', 'devices | devicemodels | nodes')
      .argument('[name]', 'only this one')
      .option('-n, --namespace <ns>', 'only this namespace (default: all)')
      .option('-o, --output <format>', 'table (default), wide, json or yaml'),
  ).action(
    (
      kindArg: string,
      name: string | undefined,
      opts: { namespace?: string; output?: string; server?: string; dataDir?: string },
    ) =>
      runCommand(async () => {
        const kind = KINDS[kindArg.toLowerCase()];
        if (!kind) throw new UsageError(`unknown kind "${kindArg}" (expected devices, devicemodels or nodes)`);
        const format = outputFormat(opts.output);
        const client = controllerClient(opts);
        const keep = (o: { metadata: { name: string; namespace?: string } }) =>
          (!opts.namespace || (o.metadata.namespace ?? 'default') === opts.namespace) &&
          (!name || o.metadata.name === name);
        let items: unknown[];
        let text: string;
        if (kind === 'devices') {
          const devices = (await client.devices()).filter(keep);
          items = devices;
          text = deviceTable(devices, format === 'wide');
        } else if (kind === 'devicemodels') {
          const models = (await client.models()).filter(keep);
          items = models;
          text = modelTable(models);
        } else {
          const nodes = (await client.nodes()).filter((n) => !name || n.name === name);
          items = nodes;
          text = nodeTable(nodes);
        }
        if (name && items.length === 0) {
          console.error(`edgetwin: ${kind.replace(/s$/, '')} "${name}" not found`);
          process.exitCode = 1;
          return;
        }
        if (format === 'json') console.log(JSON.stringify(name ? items[0] : { items }, null, 2));
        else if (format === 'yaml') process.stdout.write(YAML.stringify(name ? items[0] : { items }));
        else if (items.length === 0) console.error(`No ${kind} found.`);
        else console.log(text);
      }),
  );
};
