// `edgetwin edge-local`: one edge node with no cloud. An embedded MQTT broker plus the DeviceTwin, devices
// and models loaded from YAML for this node. Drives the whole KubeEdge twin API by hand (docs/mqtt-api.md).

import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join } from 'node:path';
import type { Device, DeviceModel } from '@edgetwin/api';
import { openDeviceTwin } from '@edgetwin/devicetwin';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { type Command, Option } from 'commander';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { isLoopback } from '@edgetwin/mappers/framework/rest/server';
import { addTwinLimitOptions, type TwinLimitFlags, twinLimitsFrom } from '../compose/twin-limit-options.js';
import type { RegisterCommand } from './index.js';
import { limitHeapGrowth } from '../compose/heap-growth.js';

export const registerEdgeLocal: RegisterCommand = (program: Command) => {
  addTwinLimitOptions(program.command('edge-local'))
    .description('run one edge node without a cloud: embedded MQTT broker + DeviceTwin, devices from YAML')
    .requiredOption('--node <name>', "this node's name (devices with another spec.nodeName are skipped)")
    .requiredOption('--db <path>', 'SQLite file of the twin (created if missing)')
    .option('--host <addr>', 'address the MQTT broker listens on', '127.0.0.1')
    .option('--port <n>', 'MQTT port (0 = any free port)', toPort, 1883)
    .option('--broker <url>', 'use a running broker (e.g. Mosquitto, mqtt://127.0.0.1:1883) instead of an embedded one')
    .option('-f, --filename <path>', 'YAML file or directory of Device/DeviceModel manifests (repeatable)', collect, [])
    // the old spelling still works; one spelling is shown across commands (issue 16 §3)
    .addOption(new Option('--file <path>').hideHelp().argParser(collect).default([]))
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://<host>:<n>/metrics', toPort)
    .option('--log-level <level>', 'pino log level (info, debug, warn, silent)', 'warn')
    .option('--insecure-allow-anonymous', 'development only: let --host be beyond loopback (no authentication here)')
    .action(async (o: Options) => {
      limitHeapGrowth();
      // an open broker on the LAN lets anyone drive the devices (issue 10 §4): `edgetwin edge` has the safe way
      if (!o.broker && !isLoopback(o.host) && !o.insecureAllowAnonymous)
        program.error(
          `edge-local on ${o.host}: its broker has no authentication, so anyone on the network could read and drive every device. ` +
            'Keep --host on loopback, or use `edgetwin edge --lan-host ADDR --auth FILE` (docs/security.md), or accept the risk with --insecure-allow-anonymous',
          { exitCode: 2 },
        );
      const logger = pino({ level: o.logLevel }, pino.destination(2));
      if (!o.broker && !isLoopback(o.host))
        logger.warn({ host: o.host }, 'INSECURE: the edge-local broker accepts anonymous clients from the network');
      const objects = await loadManifestPaths([...o.filename, ...o.file]);
      const broker = o.broker
        ? { url: o.broker, port: Number(new URL(o.broker).port || 1883), close: async () => undefined }
        : await startBroker({ host: o.host, port: o.port, logger });
      const bus = await connectBus({ url: broker.url, clientId: `edgetwin-twin-${o.node}`, logger }).catch(
        async (e) => {
          await broker.close();
          throw e;
        },
      );
      let metrics: Server | undefined;
      const twin = await openDeviceTwin({ dbPath: o.db, node: o.node, bus, logger, ...twinLimitsFrom(o) }).catch(
        async (e) => {
          await bus.close();
          await broker.close();
          throw e;
        },
      );
      const shutdown = async () => {
        metrics?.close();
        metrics?.closeAllConnections();
        await twin.close();
        await bus.close();
        await broker.close();
      };
      const loaded = await twin.loadManifests(objects);
      if (loaded.errors.length) {
        await shutdown();
        throw new Error(`manifests rejected:\n${loaded.errors.map((e) => `  ${e.object}: ${e.reason}`).join('\n')}`);
      }
      if (o.metricsPort !== undefined)
        metrics = await serveMetrics(o.host, o.metricsPort, () => twin.metrics.metrics());
      printBanner(o, broker.url, broker.port, twin.listDevices(), loaded.skipped, metrics);
      await untilSignal();
      await shutdown();
      process.stdout.write('edgetwin edge-local: stopped\n');
    });
};

interface Options extends TwinLimitFlags {
  insecureAllowAnonymous?: boolean;
  node: string;
  db: string;
  host: string;
  port: number;
  filename: string[];
  file: string[];
  metricsPort?: number;
  broker?: string;
  logLevel: string;
}

function toPort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`port "${v}" is not an integer between 0 and 65535`);
  return n;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Reads every .yaml/.yml file (directories: sorted, not recursive); a parse error names file:line:column. */
export async function loadManifestPaths(paths: string[]): Promise<Array<Device | DeviceModel>> {
  const files: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new Error(`${p}: no such file or directory`);
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => ['.yaml', '.yml'].includes(extname(n))).sort();
      files.push(...names.map((n) => join(p, n)));
    } else files.push(p);
  }
  const out: Array<Device | DeviceModel> = [];
  for (const file of files) {
    const docs = parseAllDocuments(await readFile(file, 'utf8'));
    if (!Array.isArray(docs)) continue; // an empty stream
    for (const doc of docs) {
      const err = doc.errors[0];
      if (err) {
        const at = err.linePos?.[0];
        const what = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        throw new Error(`${file}:${at ? `${at.line}:${at.col}` : '?'}: ${what}`);
      }
      const obj = doc.toJS() as { kind?: unknown } | null;
      if (obj && (obj.kind === 'Device' || obj.kind === 'DeviceModel')) out.push(obj as Device | DeviceModel);
    }
  }
  return out;
}

function serveMetrics(host: string, port: number, body: () => Promise<string>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    body().then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function printBanner(
  o: Options,
  url: string,
  port: number,
  devices: Array<{ id: string; protocol: string }>,
  skipped: string[],
  metrics: Server | undefined,
): void {
  const first = devices[0]?.id ?? '{namespace}/{name}';
  const mq = `-h ${o.broker ? new URL(url).hostname : o.host} -p ${port}`;
  const lines = [
    `edgetwin edge-local: node ${o.node} ${o.broker ? 'using the broker at' : 'listening on'} ${url}`,
    `  twin db  ${o.db}`,
    `  devices  ${devices.map((d) => `${d.id} (${d.protocol})`).join(', ') || 'none'}`,
  ];
  if (skipped.length) lines.push(`  skipped  ${skipped.join(', ')} (bound to another node)`);
  if (metrics) {
    const a = metrics.address();
    lines.push(`  metrics  http://${o.host}:${typeof a === 'object' && a ? a.port : o.metricsPort}/metrics`);
  }
  lines.push(
    'try:',
    `  mosquitto_sub ${mq} -v -t '$hw/events/device/+/+/twin/update/document' -t '$hw/events/device/+/+/twin/+/result'`,
    `  mosquitto_pub ${mq} -t '$hw/events/device/${first}/twin/get' -m '{"event_id":"1"}'`,
    `  mosquitto_pub ${mq} -t '$hw/events/node/${o.node}/membership/get' -m '{"event_id":"2"}'`,
    'stop with Ctrl-C',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
