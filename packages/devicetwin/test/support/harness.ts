// A real twin for tests: an embedded aedes broker on an ephemeral loopback port, the twin's own bus client,
// an "app" client that plays mapper/edge app, and a SQLite file in a temp dir.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Device, DeviceModel } from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker } from '@edgetwin/eventbus';
import {
  collectMessages,
  type MessageCollector,
  type ReceivedMessage,
  startTestBroker,
} from '@edgetwin/eventbus/testing';
import { parseAllDocuments } from 'yaml';
import { SAMPLE_FILES, SAMPLE_NODE, SAMPLES } from '../../../api/test/support/samples.js';
import { type DeviceTwin, type DeviceTwinOptions, openDeviceTwin } from '../../src/index.js';

export { SAMPLES };
export const NODE = SAMPLE_NODE;

export async function loadFixture(file: string): Promise<Array<Device | DeviceModel>> {
  const text = await readFile(join(SAMPLES, file), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJS() as Device | DeviceModel);
}

/** The project's KubeEdge-format temperature sensor (Modbus) and counter (virtual), as a user would write them. */
export async function kubeedgeSamples(): Promise<Array<Device | DeviceModel>> {
  return [
    ...(await loadFixture(SAMPLE_FILES.temperatureModel)),
    ...(await loadFixture(SAMPLE_FILES.temperatureDevice)),
    ...(await loadFixture(SAMPLE_FILES.counterModel)),
    ...(await loadFixture(SAMPLE_FILES.counterDevice)),
  ];
}

export interface Harness {
  dir: string;
  dbPath: string;
  broker: EmbeddedBroker;
  twinBus: BusClient;
  app: BusClient;
  twin: DeviceTwin;
  /** publish a request and resolve with the JSON on replyTopic (the subscription is in place first) */
  request(
    topic: string,
    body: unknown,
    replyTopic: string,
    predicate?: (m: ReceivedMessage) => boolean,
  ): Promise<Record<string, unknown>>;
  /** start the twin again on the same database (after twin.close()) */
  reopen(): Promise<DeviceTwin>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { dir?: string; keepDir?: boolean; twin?: Partial<DeviceTwinOptions> } = {},
): Promise<Harness> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'edgetwin-twin-')));
  const dbPath = join(dir, 'twin.db');
  const broker = await startTestBroker();
  const twinBus = await connectBus({ url: broker.url, clientId: `twin-${process.pid}` });
  const app = await connectBus({ url: broker.url, clientId: `app-${process.pid}` });
  // One lasting subscription per reply topic: unsubscribing and resubscribing the same filter in quick
  // succession can leave the broker without the subscription (UNSUBSCRIBE overtaking SUBSCRIBE).
  const replies = new Map<string, MessageCollector>();
  const h: Harness = {
    dir,
    dbPath,
    broker,
    twinBus,
    app,
    twin: await openDeviceTwin({ ...opts.twin, dbPath, node: NODE, bus: twinBus }),
    async request(topic, body, replyTopic, predicate) {
      let c = replies.get(replyTopic);
      if (!c) {
        c = await collectMessages(app, replyTopic);
        replies.set(replyTopic, c);
      }
      const from = c.messages.length;
      const wanted = (m: ReceivedMessage) => c.messages.indexOf(m) >= from && (predicate?.(m) ?? true);
      await app.publish(topic, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
      const all = await c.waitFor(wanted);
      return all.find(wanted)!.json() as Record<string, unknown>;
    },
    async reopen() {
      h.twin = await openDeviceTwin({ ...opts.twin, dbPath, node: NODE, bus: twinBus });
      return h.twin;
    },
    async close() {
      for (const c of replies.values()) await c.stop();
      await h.twin.close();
      await app.close();
      await twinBus.close();
      await broker.close();
      if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}
