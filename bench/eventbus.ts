// Event bus throughput: the BusClient wrapper against raw mqtt.js (the baseline) on the same broker in
// the same run, for the embedded broker (memory and LevelDB persistence) and an external Mosquitto;
// and the cost of routing a message to its handler when one client holds many filters.
// Run: node packages/cli/bin/run-ts.js bench/eventbus.ts [--write]   (--write updates docs/benchmarks.md)
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { type BusClient, connectBus, startBroker } from '@edgetwin/eventbus';
import { startMosquitto } from '@edgetwin/eventbus/testing';
import mqtt, { type MqttClient } from 'mqtt';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const WINDOW = 100; // QoS 1 messages in flight
const PAYLOAD = Buffer.alloc(100, 'x');
const REPEATS = 3;

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Side {
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  /** resolve when `count` messages arrived on `topic` */
  receive(topic: string, count: number): Promise<void>;
  close(): Promise<void>;
}

async function wrapperSide(url: string): Promise<Side> {
  const pub = await connectBus({ url });
  const sub = await connectBus({ url });
  return {
    publish: (t, p, qos) => pub.publish(t, p, { qos }),
    async receive(topic, count) {
      let n = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((r) => {
        done = r;
      });
      const stop = await sub.subscribe(topic, () => {
        if (++n === count) done();
      });
      receiveStarted.push(async () => {
        await all;
        await stop();
      });
    },
    close: async () => {
      await pub.close();
      await sub.close();
    },
  };
}

async function rawSide(url: string): Promise<Side> {
  const pub: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const sub: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 4 });
  return {
    publish: async (t, p, qos) => {
      await pub.publishAsync(t, p, { qos });
    },
    async receive(topic, count) {
      let n = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((r) => {
        done = r;
      });
      const onMessage = (t: string) => {
        if (t === topic && ++n === count) done();
      };
      sub.on('message', onMessage);
      await sub.subscribeAsync(topic, { qos: 1 });
      receiveStarted.push(async () => {
        await all;
        sub.off('message', onMessage);
        await sub.unsubscribeAsync(topic);
      });
    },
    close: async () => {
      await pub.endAsync();
      await sub.endAsync();
    },
  };
}

// receive() arms the subscriber; the waits are collected here and awaited after publishing.
const receiveStarted: Array<() => Promise<void>> = [];

async function throughput(side: Side, qos: 0 | 1, label: string): Promise<number> {
  const topic = `bench/${label}/${qos}`;
  await side.receive(topic, MESSAGES);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < MESSAGES) {
      next++;
      await side.publish(topic, PAYLOAD, qos);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  await receiveStarted.pop()!();
  return MESSAGES / ((performance.now() - t0) / 1000);
}

async function routing(url: string, filters: number): Promise<{ wrapper: number; raw: number }> {
  // one client holding `filters` per-device filters; messages go to the last one
  const bus: BusClient = await connectBus({ url });
  const raw = await mqtt.connectAsync(url, { protocolVersion: 4 });
  for (let i = 0; i < filters; i++) {
    await bus.subscribe(`$hw/events/device/default/dev-${i}/twin/update/delta`, () => {});
    await raw.subscribeAsync(`$hw/events/device/default/dev-${i}/twin/update/delta`, { qos: 0 });
  }
  const topic = `$hw/events/device/default/dev-${filters - 1}/twin/update/delta`;
  const count = 20_000;
  const measure = async (arm: (done: () => void) => Promise<() => Promise<void>>): Promise<number> => {
    let finish: () => void = () => {};
    const all = new Promise<void>((r) => {
      finish = r;
    });
    const disarm = await arm(finish);
    const pub = await connectBus({ url });
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        await pub.publish(topic, PAYLOAD, { qos: 0 });
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    await all;
    const rate = count / ((performance.now() - t0) / 1000);
    await disarm();
    await pub.close();
    return rate;
  };
  const wrapperRate = await measure(async (finish) => {
    let n = 0;
    const stop = await bus.subscribe(topic, () => {
      if (++n === count) finish();
    });
    return stop;
  });
  const rawRate = await measure(async (finish) => {
    let n = 0;
    const onMessage = (t: string) => {
      if (t === topic && ++n === count) finish();
    };
    raw.on('message', onMessage);
    return async () => {
      raw.off('message', onMessage);
    };
  });
  await bus.close();
  await raw.endAsync();
  return { wrapper: wrapperRate, raw: rawRate };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main() {
  const rows: string[] = [];
  const dir = await mkdtemp(join(os.tmpdir(), 'edgetwin-bench-eventbus-'));
  const setups: Array<{ name: string; start(): Promise<{ url: string; stop(): Promise<void> }> }> = [
    {
      name: 'embedded aedes, memory',
      start: async () => {
        const b = await startBroker({ port: 0 });
        return { url: b.url, stop: () => b.close() };
      },
    },
    {
      name: 'embedded aedes, LevelDB persistence',
      start: async () => {
        const b = await startBroker({ port: 0, persistenceDir: join(dir, 'level') });
        return { url: b.url, stop: () => b.close() };
      },
    },
    {
      name: 'external Mosquitto (own process)',
      start: async () => {
        const m = await startMosquitto();
        return { url: m.url, stop: () => m.stop() };
      },
    },
  ];
  for (const setup of setups) {
    for (const qos of [0, 1] as const) {
      const broker = await setup.start();
      const raw = await rawSide(broker.url);
      const wrapped = await wrapperSide(broker.url);
      await throughput(raw, qos, 'warm-raw');
      await throughput(wrapped, qos, 'warm-wrapper');
      const rawRates: number[] = [];
      const wrapRates: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        rawRates.push(await throughput(raw, qos, `raw${i}`));
        wrapRates.push(await throughput(wrapped, qos, `wrapper${i}`));
      }
      await raw.close();
      await wrapped.close();
      await broker.stop();
      const rawRate = median(rawRates);
      const wrapRate = median(wrapRates);
      rows.push(`| ${setup.name} | ${qos} | ${fmt(rawRate)} | ${fmt(wrapRate)} | ${(wrapRate / rawRate).toFixed(2)} |`);
      console.log(rows.at(-1));
    }
  }
  const routeRows: string[] = [];
  for (const filters of [1, 100, 1000]) {
    const b = await startBroker({ port: 0 });
    const r = await routing(b.url, filters);
    await b.close();
    routeRows.push(`| ${filters} | ${fmt(r.raw)} | ${fmt(r.wrapper)} | ${(r.wrapper / r.raw).toFixed(2)} |`);
    console.log(routeRows.at(-1));
  }
  await rm(dir, { recursive: true, force: true });

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const section = [
    '## eventbus',
    '',
    `Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}. ` +
      `Load average at start: ${os.loadavg()[0]!.toFixed(1)}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`node packages/cli/bin/run-ts.js bench/eventbus.ts --write\`.`,
    '',
    `Publish-to-delivery throughput, ${MESSAGES.toLocaleString('en-US')} messages of 100 bytes, one publisher and one ` +
      `subscriber connection, ${WINDOW} publishes in flight (QoS 1: awaiting PUBACK; QoS 0: awaiting the socket write), median of ${REPEATS} alternating runs after a warm-up. ` +
      'Baseline: raw mqtt.js 5.16 clients on the same broker in the same run. aedes runs inside the bench process ' +
      '(sharing its event loop with the clients); Mosquitto runs in its own process.',
    '',
    '| broker | QoS | raw mqtt.js msg/s | BusClient msg/s | ratio |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'Routing cost: one connection holding N per-device filters (`$hw/events/device/default/dev-i/twin/update/delta`), ' +
      '20,000 QoS 0 messages to the last filter (the broker matches them too, so its cost is in both columns). Baseline: a raw mqtt.js `message` listener on a connection with the ' +
      'same N subscriptions. The wrapper looks exact filters up in a map and pre-splits wildcard filters.',
    '',
    '| filters | raw mqtt.js msg/s | BusClient msg/s | ratio |',
    '| --- | --- | --- | --- |',
    ...routeRows,
    '',
  ].join('\n');
  console.log(`\n${section}`);
  if (process.argv.includes('--write')) {
    const file = new URL('../docs/benchmarks.md', import.meta.url);
    const doc = await readFile(file, 'utf8');
    const start = doc.indexOf('\n## eventbus\n');
    let next = start < 0 ? -1 : doc.indexOf('\n## ', start + 1);
    if (next < 0) next = doc.length;
    const updated =
      start < 0 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, start + 1)}${section}${doc.slice(next + 1)}`;
    await writeFile(file, updated.endsWith('\n') ? updated : `${updated}\n`);
    console.log('docs/benchmarks.md updated');
  }
}

await main();
