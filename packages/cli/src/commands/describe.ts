// edgetwin describe device|devicemodel|node NAME: one object in full, with its recent events (issue 16 §3),
// as `kubectl describe` shows them.
import { type ControllerClient, ControllerError } from '@edgetwin/device-controller/http/client';
import {
  outputFormat,
  parseName,
  runCommand,
  UsageError,
  controllerClient,
  withConnectionOptions,
  yamlPrinter,
} from '@edgetwin/device-controller/cli/common';
import {
  describeDevice,
  describeModel,
  describeNode,
  eventsTable,
  reportsSummary,
} from '@edgetwin/device-controller/cli/present';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

const KINDS: Record<string, 'device' | 'devicemodel' | 'node'> = {
  device: 'device',
  devices: 'device',
  dev: 'device',
  devicemodel: 'devicemodel',
  devicemodels: 'devicemodel',
  dm: 'devicemodel',
  node: 'node',
  nodes: 'node',
};

type Options = { namespace?: string; output?: string; server?: string; dataDir?: string };

export const registerDescribe: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('describe')
      .description('show one device, devicemodel or node in full, with its recent events')
      .argument('<kind>', 'device | devicemodel | node')
      .argument('<name>', 'NAME or NAMESPACE/NAME')
      .option('-n, --namespace <ns>', 'namespace (default: default)')
      .option('-o, --output <format>', 'table (default; also: text), json or yaml'),
  ).action((kindArg: string, nameArg: string, opts: Options) =>
    runCommand(async () => {
      const kind = KINDS[kindArg.toLowerCase()];
      if (!kind) throw new UsageError(`describe ${kindArg}: unknown kind (expected device, devicemodel or node)`);
      const format = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json', 'yaml']);
      const client = controllerClient(opts);
      const toYaml = await yamlPrinter(format);
      const print = (detail: unknown, text: () => string) => {
        if (format === 'json') console.log(JSON.stringify(detail, null, 2));
        else if (format === 'yaml') process.stdout.write(toYaml(detail));
        else console.log(text());
      };
      if (kind === 'node') return describeNodeCmd(client, nameArg, print);
      const { namespace, name } = parseName(nameArg, opts.namespace);
      if (kind === 'devicemodel') {
        const model = (await client.models()).find(
          (m) => m.metadata.name === name && (m.metadata.namespace ?? 'default') === namespace,
        );
        if (!model) throw new Error(`devicemodel ${namespace}/${name} not found`);
        const users = (await client.devices()).filter(
          (d) => (d.metadata.namespace ?? 'default') === namespace && d.spec.deviceModelRef?.name === name,
        );
        // the model's events are those of the devices that use it
        const users_ = new Set(users.map((d) => d.metadata.name));
        const events = (await client.events({ kind: 'Device', namespace })).filter((e) => users_.has(e.object.name));
        return print({ model, devices: users.map((d) => d.metadata.name), events }, () =>
          [describeModel(model, users), '', eventsTable(events)].join('\n'),
        );
      }
      let detail: Awaited<ReturnType<ControllerClient['device']>>;
      try {
        detail = await client.device(namespace, name);
      } catch (e) {
        if (e instanceof ControllerError && e.status === 404) throw new Error(`device ${namespace}/${name} not found`);
        throw e;
      }
      const events = await client.events({ kind: 'Device', namespace, name });
      // reported values are only as fresh as the node's report stream: say when it is behind
      const node = detail.device.spec.nodeName;
      const info = node && format === 'table' ? (await client.nodes()).find((n) => n.name === node) : undefined;
      print(format === 'table' ? detail : { ...detail, events }, () =>
        [
          describeDevice(detail.device, detail.model),
          ...(info ? ['', `Node reports:   ${reportsSummary(info.reports)} (node ${node}, ${info.presence})`] : []),
          '',
          eventsTable(events),
        ].join('\n'),
      );
    }),
  );
};

async function describeNodeCmd(
  client: ControllerClient,
  name: string,
  print: (detail: unknown, text: () => string) => void,
): Promise<void> {
  const node = (await client.nodes()).find((n) => n.name === name);
  if (!node) throw new Error(`node "${name}" not found (no device is bound to it and it never connected)`);
  const devices = (await client.devices()).filter((d) => d.spec.nodeName === name);
  const names = new Set(devices.map((d) => `${d.metadata.namespace ?? 'default'}/${d.metadata.name}`));
  // a node's events, and those of its devices
  const events = (await client.events()).filter(
    (e) =>
      (e.object.kind === 'Node' && e.object.name === name) ||
      (e.object.kind === 'Device' && names.has(`${e.object.namespace ?? 'default'}/${e.object.name}`)),
  );
  print({ node, devices: devices.map((d) => d.metadata.name), events }, () =>
    [describeNode(node, devices), '', eventsTable(events)].join('\n'),
  );
}
