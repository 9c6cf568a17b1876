// edgetwin describe device NAME: spec, desired vs reported per property, state, last seen.
import { type ControllerClient, ControllerError } from '@edgetwin/device-controller/http/client';
import {
  outputFormat,
  parseName,
  runCommand,
  UsageError,
  controllerClient,
  withConnectionOptions,
} from '@edgetwin/device-controller/cli/common';
import { describeDevice, reportsSummary } from '@edgetwin/device-controller/cli/present';
import type { Command } from 'commander';
import YAML from 'yaml';
import type { RegisterCommand } from './index.js';

export const registerDescribe: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('describe')
      .description('show one device: spec, desired vs reported value of every property, state, last seen')
      .argument('<kind>', 'device')
      .argument('<name>', 'NAME or NAMESPACE/NAME')
      .option('-n, --namespace <ns>', 'namespace (default: default)')
      .option('-o, --output <format>', 'text (default), json or yaml'),
  ).action(
    (kind: string, nameArg: string, opts: { namespace?: string; output?: string; server?: string; dataDir?: string }) =>
      runCommand(async () => {
        if (!['device', 'devices', 'dev'].includes(kind.toLowerCase()))
          throw new UsageError(`describe ${kind}: only "describe device NAME" is supported`);
        const format = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json', 'yaml']);
        const { namespace, name } = parseName(nameArg, opts.namespace);
        const client = controllerClient(opts);
        let detail: Awaited<ReturnType<ControllerClient['device']>>;
        try {
          detail = await client.device(namespace, name);
        } catch (e) {
          if (e instanceof ControllerError && e.status === 404)
            throw new Error(`device ${namespace}/${name} not found`);
          throw e;
        }
        if (format === 'json') console.log(JSON.stringify(detail, null, 2));
        else if (format === 'yaml') process.stdout.write(YAML.stringify(detail));
        else {
          console.log(describeDevice(detail.device, detail.model));
          // reported values are only as fresh as the node's report stream: say when it is behind
          const node = detail.device.spec.nodeName;
          const info = node ? (await client.nodes()).find((n) => n.name === node) : undefined;
          if (info) console.log(`\nNode reports:   ${reportsSummary(info.reports)} (node ${node}, ${info.presence})`);
        }
      }),
  );
};
