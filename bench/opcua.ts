// OPC-UA bench (issue 11, "Measured"): 1,000 Double variables on one server (the asyncua peer, in its own
// process, changing every variable once a second), read four ways, each in its own child process so its
// CPU time and RSS are its own: our driver subscribed (MonitoredItems, the default for on-change
// properties), our driver polling (one Read of all 1,000 per second), and a raw node-opcua client doing
// each of the same two jobs (with the same kind of certificate manager as the driver: without one,
// node-opcua's default cost the raw client several times more CPU per reading in a trial run). Modes are interleaved round by round so a shared, loaded machine weighs on
// all of them alike; CPU is measured as CPU-seconds (process.cpuUsage), not wall time.
//
//   node packages/cli/bin/run-ts.js bench/opcua.ts [--variables 1000] [--seconds 15] [--rounds 2] [--no-write]

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import { freePort } from '@edgetwin/eventbus/testing';
import { createOpcuaDriverFactory } from '@edgetwin/mappers/drivers/opcua/index';
import { ASYNCUA_NAMESPACE as NS, startAsyncuaServer } from '@edgetwin/simulators/opcua/asyncua';
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  type ClientSession,
  type DataValue,
  type ReadValueIdOptions,
  resolveNodeId,
  OPCUAClient,
  TimestampsToReturn,
} from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import pino from 'pino';
import { loadAverage, loadLine, numberOption, replaceSection } from './support.js';

const LOAD_AT_START = loadAverage();

const MODES = ['driver-subscribe', 'raw-subscribe', 'driver-poll', 'raw-poll'] as const;
type Mode = (typeof MODES)[number];
const SAMPLING_MS = 250;
const POLL_MS = 1000;

interface Sample {
  mode: Mode;
  readings: number;
  seconds: number;
  cpuSeconds: number;
  rssMiB: number;
}

const args = process.argv.slice(2);
const child = args.indexOf('--child');
if (child >= 0) await runChild(args[child + 1] as Mode, String(args[args.indexOf('--url') + 1]));
else await runParent();

/** One mode for `--seconds`, after a warm-up; prints one JSON Sample on stdout. */
async function runChild(mode: Mode, url: string): Promise<void> {
  const n = numberOption('variables', 1000);
  const seconds = numberOption('seconds', 15);
  const nodeIds = Array.from({ length: n }, (_, i) => `nsu=${NS};s=Bench.V${i}`);
  let readings = 0;
  let stop: () => Promise<void>;
  let poll: (() => Promise<void>) | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-opcua-'));

  if (mode.startsWith('driver')) {
    const subscribe = mode === 'driver-subscribe';
    const properties: ResolvedProperty[] = nodeIds.map((nodeID, i) => ({
      name: `v${i}`,
      type: 'DOUBLE',
      accessMode: 'ReadOnly',
      visitor: { nodeID, subscribe, samplingInterval: SAMPLING_MS },
      collectCycleMs: POLL_MS,
      reportCycleMs: POLL_MS,
      reportToCloud: false,
    }));
    const device: ResolvedDevice = {
      id: 'default/bench',
      namespace: 'default',
      name: 'bench',
      nodeName: 'bench',
      protocol: 'opcua',
      protocolConfig: { url, timeout: 20_000 },
      model: { namespace: 'default', name: 'bench' },
      properties,
      methods: [],
      stateReport: { reportToCloud: false, reportCycleMs: 60_000 },
      version: '1/1',
    };
    const driver = createOpcuaDriverFactory({ dataDir }).create(device, {
      logger: pino({ level: 'silent' }),
      signal: new AbortController().signal,
    });
    await driver.connect();
    if (subscribe) {
      const unsubscribe = await driver.subscribe!(properties, () => {
        readings++;
      });
      stop = async () => {
        await unsubscribe();
        await driver.disconnect();
      };
    } else {
      poll = async () => {
        const r = await driver.readBatch(properties);
        for (const x of r.values()) if (x.ok) readings++;
      };
      stop = () => driver.disconnect();
    }
  } else {
    // the same kind of certificate manager as the driver's (its own PKI folder), so only the reading differs
    const clientCertificateManager = new OPCUACertificateManager({
      rootFolder: join(dataDir, 'pki'),
      automaticallyAcceptUnknownCertificate: true,
    });
    await clientCertificateManager.initialize();
    const client = OPCUAClient.create({
      endpointMustExist: false,
      requestedSessionTimeout: 60_000,
      clientCertificateManager,
    });
    await client.connect(url);
    const session: ClientSession = await client.createSession();
    const ns = (await session.readNamespaceArray()).indexOf(NS);
    const reads: ReadValueIdOptions[] = nodeIds.map((_, i) => ({
      nodeId: resolveNodeId(`ns=${ns};s=Bench.V${i}`),
      attributeId: AttributeIds.Value,
    }));
    if (mode === 'raw-subscribe') {
      const sub = await session.createSubscription2({
        requestedPublishingInterval: SAMPLING_MS,
        requestedLifetimeCount: 120,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 5000,
        publishingEnabled: true,
        priority: 10,
      });
      const group = ClientMonitoredItemGroup.create(
        sub,
        reads,
        { samplingInterval: SAMPLING_MS, queueSize: 10, discardOldest: true },
        TimestampsToReturn.Both,
      );
      group.on('changed', (_item: unknown, dv: DataValue) => {
        if (dv.statusCode.isGood()) readings++;
      });
      await new Promise<void>((resolve) => group.once('initialized', () => resolve()));
      stop = async () => {
        await sub.terminate();
        await session.close();
        await client.disconnect();
      };
    } else {
      poll = async () => {
        const dvs = await session.read(reads);
        for (const dv of dvs) if (dv.statusCode.isGood()) readings++;
      };
      stop = async () => {
        await session.close();
        await client.disconnect();
      };
    }
  }

  // warm-up: the initial values (subscriptions) or one full read, outside the measured window
  if (poll) await poll();
  else await new Promise((r) => setTimeout(r, 3000));
  readings = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  if (poll) {
    // one Read of every variable per POLL_MS, as a mapper's collectCycle would (never two at once)
    for (let next = t0; next < end; next += POLL_MS) {
      await poll();
      const wait = next + POLL_MS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } else await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const sample: Sample = {
    mode,
    readings,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  process.exit(0);
}

async function runParent(): Promise<void> {
  const n = numberOption('variables', 1000);
  const seconds = numberOption('seconds', 15);
  const rounds = numberOption('rounds', 2);
  const pki = mkdtempSync(join(tmpdir(), 'edgetwin-bench-opcua-server-'));
  const server = await startAsyncuaServer({
    port: await freePort(),
    pki,
    args: ['--variables', String(n), '--tick', String(POLL_MS)],
    timeoutMs: 120_000,
  });
  const samples: Sample[] = [];
  const self = fileURLToPath(import.meta.url);
  const runTs = fileURLToPath(new URL('../packages/cli/bin/run-ts.js', import.meta.url));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [runTs, self, '--child', mode, '--url', server.url, '--variables', String(n), '--seconds', String(seconds)],
          { maxBuffer: 1 << 20, timeout: (seconds + 120) * 1000 },
        );
        const line = stdout.trim().split('\n').pop() ?? '';
        const s = JSON.parse(line) as Sample;
        samples.push(s);
        process.stderr.write(`round ${round + 1} ${mode}: ${JSON.stringify(s)}\n`);
      }
    }
  } finally {
    await server.stop();
    rmSync(pki, { recursive: true, force: true });
  }

  const sum = (mode: Mode) => {
    const xs = samples.filter((s) => s.mode === mode);
    const readings = xs.reduce((a, s) => a + s.readings, 0);
    const secs = xs.reduce((a, s) => a + s.seconds, 0);
    const cpu = xs.reduce((a, s) => a + s.cpuSeconds, 0);
    return {
      perSecond: readings / secs,
      cpuMsPer1000: (cpu / readings) * 1e6,
      cpuShare: cpu / secs,
      rss: Math.max(...xs.map((s) => s.rssMiB)),
    };
  };
  const rows = MODES.map((m) => [m, sum(m)] as const);
  const r = Object.fromEntries(rows) as Record<Mode, ReturnType<typeof sum>>;
  const pct = (ours: number, raw: number) => `${((raw / ours) * 100).toFixed(0)} %`;
  const section = [
    '## OPC-UA: subscriptions vs polling, driver vs raw node-opcua client (bench/opcua.ts)',
    '',
    `Command: \`node packages/cli/bin/run-ts.js bench/opcua.ts --variables ${n} --seconds ${seconds} --rounds ${rounds}\`.`,
    `Machine: ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}, shared with other work. Date: ${new Date().toISOString().slice(0, 16)}Z. ${loadLine(LOAD_AT_START)}`,
    '',
    `${n} Double variables on the asyncua ${'2.1.0'} server (its own process, every variable changed once a second),`,
    `read by one client process per mode; modes interleaved over ${rounds} rounds of ${seconds} s. CPU is the`,
    'client process’s user+system CPU-seconds in the window; RSS its resident memory at the end.',
    '',
    '| mode | readings/s | CPU ms per 1,000 readings | CPU share of one core | RSS MiB |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map(
      ([m, x]) =>
        `| ${m} | ${x.perSecond.toFixed(0)} | ${x.cpuMsPer1000.toFixed(1)} | ${(x.cpuShare * 100).toFixed(1)} % | ${x.rss.toFixed(0)} |`,
    ),
    '',
    `Driver vs raw client, CPU per reading (raw / driver; 100 % = as cheap as raw): subscribed ${pct(r['driver-subscribe'].cpuMsPer1000, r['raw-subscribe'].cpuMsPer1000)}, polled ${pct(r['driver-poll'].cpuMsPer1000, r['raw-poll'].cpuMsPer1000)}.`,
    `Subscriptions vs polling in the driver, CPU per reading: polling costs ${(r['driver-poll'].cpuMsPer1000 / r['driver-subscribe'].cpuMsPer1000).toFixed(2)}x a subscription's.`,
    '',
  ].join('\n');
  if (!process.argv.includes('--no-write'))
    await replaceSection(
      fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)),
      '## OPC-UA: subscriptions vs polling, driver vs raw node-opcua client (bench/opcua.ts)',
      section,
    );
  process.stdout.write(section);
}
