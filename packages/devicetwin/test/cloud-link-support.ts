// Test helpers for the edge end of the cloud link: a real twin on its own edge broker, a second broker
// playing the cloud's, and a "cloud" client that publishes desired state the way the cloud end does
// (retained objects, then the index) and records reports.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cloudTopics,
  type Device,
  type DeviceModel,
  type DesiredIndex,
  desiredVersion,
  deviceId,
  type OutboxEntry,
  type ReportAck,
  type ReportBatch,
  encodeReportAck,
  stampGeneration,
} from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker } from '@edgetwin/eventbus';
import { startTestBroker } from '@edgetwin/eventbus/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { type DeviceTwin, openDeviceTwin } from '../src/index.js';

export const NODE = 'edge-1';

export function model(name: string, rv = '1'): DeviceModel {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name, namespace: 'default', resourceVersion: rv },
    spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'INT', accessMode: 'ReadWrite' }] },
  };
}

export function device(name: string, opts: { rv?: string; model?: string; desired?: string } = {}): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default', resourceVersion: opts.rv ?? '1' },
    spec: {
      deviceModelRef: { name: opts.model ?? 'thermo' },
      nodeName: NODE,
      protocol: { protocolName: 'virtual' },
      properties: [{ name: 'temp', desired: { value: opts.desired ?? '20' } }],
    },
  };
}

/** Resolves when cond() holds, checked whenever `subscribe` signals; rejects naming `what` on timeout. */
export function until(
  subscribe: (wake: () => void) => () => void,
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const unsubscribe = subscribe(() => {
      if (!cond()) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
  });
}

/** Plays the cloud end: keeps a node's desired state and publishes it like DesiredPublisher; records reports. */
export class FakeCloud {
  readonly devices = new Map<string, Device>();
  readonly models = new Map<string, DeviceModel>();
  readonly reports: OutboxEntry[] = [];
  /** every batch received, in arrival order */
  readonly batches: ReportBatch[] = [];
  generation = 0;
  ackReports = true;
  /** when set, every batch is answered with this upTo instead of what arrived (a cloud refusing them all) */
  ackUpTo: number | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly client: MqttClient,
    readonly node: string,
  ) {}

  static async connect(url: string, node = NODE): Promise<FakeCloud> {
    const client = await mqtt.connectAsync(url, { clientId: `fake-cloud-${process.pid}`, reconnectPeriod: 0 });
    const cloud = new FakeCloud(client, node);
    client.on('message', (topic, payload) => {
      if (topic !== cloudTopics.reports(node)) return;
      const batch = JSON.parse(payload.toString()) as ReportBatch;
      cloud.batches.push(batch);
      const last = cloud.reports.at(-1)?.seq ?? 0;
      if (cloud.ackUpTo === undefined) for (const e of batch.entries) if (e.seq > last) cloud.reports.push(e);
      if (cloud.ackReports)
        void client.publishAsync(
          cloudTopics.acks(node),
          JSON.stringify({ upTo: cloud.ackUpTo ?? cloud.reports.at(-1)?.seq ?? 0, timestamp: Date.now() }),
          {
            qos: 1,
            retain: true,
          },
        );
      cloud.wake();
    });
    await client.subscribeAsync(cloudTopics.reports(node), { qos: 1 });
    return cloud;
  }

  /** Publishes a ReportAck as given (retained, as the cloud end does). */
  async ack(ack: ReportAck): Promise<void> {
    await this.client.publishAsync(cloudTopics.acks(this.node), encodeReportAck(ack), { qos: 1, retain: true });
  }

  onReport(wake: () => void): () => void {
    this.listeners.add(wake);
    return () => this.listeners.delete(wake);
  }

  private wake(): void {
    for (const l of [...this.listeners]) l();
  }

  async putModel(m: DeviceModel): Promise<void> {
    this.models.set(deviceId(m), m);
    await this.client.publishAsync(cloudTopics.model(this.node, deviceId(m)), JSON.stringify(m), {
      qos: 1,
      retain: true,
    });
  }

  /** `stamp`: the link generation the cloud end stamps on objects (absent = unstamped, as an older cloud). */
  async putDevice(d: Device, stamp?: number): Promise<void> {
    this.devices.set(deviceId(d), d);
    const body = stamp === undefined ? d : stampGeneration(d, stamp);
    await this.client.publishAsync(cloudTopics.device(this.node, deviceId(d)), JSON.stringify(body), {
      qos: 1,
      retain: true,
    });
  }

  async deleteDevice(id: string): Promise<void> {
    this.devices.delete(id);
    await this.client.publishAsync(cloudTopics.device(this.node, id), '', { qos: 1, retain: true });
  }

  async deleteModel(id: string): Promise<void> {
    this.models.delete(id);
    await this.client.publishAsync(cloudTopics.model(this.node, id), '', { qos: 1, retain: true });
  }

  index(): DesiredIndex {
    const versions = <T extends Device | DeviceModel>(m: Map<string, T>) =>
      Object.fromEntries([...m].map(([id, o]) => [id, desiredVersion(o)]));
    return {
      node: this.node,
      generation: this.generation,
      devices: versions(this.devices),
      models: versions(this.models),
      timestamp: Date.now(),
    };
  }

  /** Publishes an index as given (retained unless told), to play late or out-of-order indexes. */
  async sendIndex(index: DesiredIndex, retain = true): Promise<void> {
    await this.client.publishAsync(cloudTopics.index(this.node), JSON.stringify(index), { qos: 1, retain });
  }

  async publishIndex(): Promise<number> {
    this.generation++;
    await this.client.publishAsync(cloudTopics.index(this.node), JSON.stringify(this.index()), {
      qos: 1,
      retain: true,
    });
    return this.generation;
  }

  private closing: Promise<void> | undefined;

  /** Idempotent (mqtt.js never settles a second end). */
  close(): Promise<void> {
    this.closing ??= this.client.endAsync(true);
    return this.closing;
  }
}

export interface EdgeSide {
  dir: string;
  dbPath: string;
  edgeBroker: EmbeddedBroker;
  twinBus: BusClient;
  twin: DeviceTwin;
  reopenTwin(): Promise<DeviceTwin>;
  close(): Promise<void>;
}

/** A real twin (SQLite in a temp dir) on its own embedded edge broker. */
export async function startEdgeSide(): Promise<EdgeSide> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-edge-link-'));
  const dbPath = join(dir, 'twin.db');
  const edgeBroker = await startTestBroker();
  const twinBus = await connectBus({ url: edgeBroker.url, clientId: `twin-${process.pid}` });
  const side: EdgeSide = {
    dir,
    dbPath,
    edgeBroker,
    twinBus,
    twin: await openDeviceTwin({ dbPath, node: NODE, bus: twinBus }),
    async reopenTwin() {
      side.twin = await openDeviceTwin({ dbPath, node: NODE, bus: twinBus });
      return side.twin;
    },
    async close() {
      await side.twin.close();
      await twinBus.close();
      await edgeBroker.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return side;
}
