// edgetwin get devices|devicemodels|nodes [NAME]: lists what the controller holds.
import {
  outputFormat,
  runCommand,
  UsageError,
  controllerClient,
  parseName,
  type OutputFormat,
  withConnectionOptions,
  yamlPrinter,
} from '@edgetwin/device-controller/cli/common';
import { deviceTable, modelTable, nodeTable, table } from '@edgetwin/device-controller/cli/present';
import type { Device } from '@edgetwin/api';
import type { ControllerClient } from '@edgetwin/device-controller/http/client';
import type { Command } from 'commander';
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
      .option('-o, --output <format>', 'table (default), wide, json or yaml')
      .option('-w, --watch', 'after the list, print a line for every change (devices; as kubectl get -w)')
      .option('--property <name>', 'history: only this property')
      .option('--since <time>', 'history: from this time on (an ISO time, or back from now: 90s, 10m, 2h; default 1h)'),
  ).action((kindArg: string, name: string | undefined, opts: GetOptions) =>
    runCommand(async () => {
      if (kindArg.toLowerCase() === 'history') return getHistory(name, opts);
      const kind = KINDS[kindArg.toLowerCase()];
      if (!kind) throw new UsageError(`unknown kind "${kindArg}" (expected devices, devicemodels, nodes or history)`);
      const format = outputFormat(opts.output);
      const toYaml = await yamlPrinter(format);
      if (opts.watch && kind !== 'devices') throw new UsageError(`-w: only "get devices -w" watches (not ${kind})`);
      const client = controllerClient(opts);
      if (opts.watch) return watchDevices(client, format, toYaml, (d) => keepName(d, opts.namespace, name));
      const keep = (o: { metadata: { name: string; namespace?: string } }) => keepName(o, opts.namespace, name);
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
      else if (format === 'yaml') process.stdout.write(toYaml(name ? items[0] : { items }));
      else if (items.length === 0) console.error(`No ${kind} found.`);
      else console.log(text);
    }),
  );
};

interface GetOptions {
  namespace?: string;
  output?: string;
  server?: string;
  dataDir?: string;
  watch?: boolean;
  property?: string;
  since?: string;
}

function keepName(o: { metadata: { name: string; namespace?: string } }, namespace?: string, name?: string): boolean {
  return (!namespace || (o.metadata.namespace ?? 'default') === namespace) && (!name || o.metadata.name === name);
}

/**
 * get devices -w: the table, then one line per change as the controller streams it (no polling), until
 * Ctrl-C. With -o json|yaml, one document per change.
 */
async function watchDevices(
  client: ControllerClient,
  format: OutputFormat,
  toYaml: (v: unknown) => string,
  keep: (d: Device) => boolean,
) {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  let first = true;
  const print = (devices: Device[]) => {
    if (format === 'json') for (const d of devices) console.log(JSON.stringify(d));
    else if (format === 'yaml') for (const d of devices) process.stdout.write(`---\n${toYaml(d)}`);
    else {
      const lines = deviceTable(devices, format === 'wide').split('\n');
      console.log((first ? lines : lines.slice(1)).join('\n'));
      first = false;
    }
  };
  await client.stream((event, data) => {
    if (event === 'devices') {
      const items = (data as { items: Device[] }).items.filter(keep);
      if (items.length > 0 || !first) print(items);
      else console.error('No devices found yet; watching.');
    } else if (event === 'device' && keep(data as Device)) print([data as Device]);
  }, abort.signal);
}

/** get history DEVICE: the recorded reported numbers (issue 16 §1), oldest first. */
async function getHistory(nameArg: string | undefined, opts: GetOptions): Promise<void> {
  if (!nameArg) throw new UsageError('get history DEVICE: name the device (NAME or NAMESPACE/NAME)');
  const format = outputFormat(opts.output, ['table', 'json', 'yaml']);
  const { namespace, name } = parseName(nameArg, opts.namespace);
  const h = await controllerClient(opts).history(namespace, name, {
    ...(opts.property !== undefined ? { property: opts.property } : {}),
    ...(opts.since !== undefined ? { since: opts.since } : {}),
  });
  if (format === 'json') return console.log(JSON.stringify(h, null, 2));
  if (format === 'yaml') return void process.stdout.write((await yamlPrinter(format))(h));
  const rows = h.series.flatMap((s) => s.points.map(([t, v]) => [new Date(t).toISOString(), s.property, String(v)]));
  if (rows.length === 0) {
    console.error(
      `No history for ${namespace}/${name}${opts.property ? ` ${opts.property}` : ''} since ${h.since} ` +
        `(numbers reported while the controller runs are kept ${h.retentionSeconds / 60} min).`,
    );
    return;
  }
  rows.sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  console.log(table(['TIME', 'PROPERTY', 'VALUE'], rows));
}
