// End to end over the cloud link with every real part: the controller on its embedded SQLite store, the
// cloud link with its embedded broker, the edge twin on SQLite with its own edge broker, the edge link
// dialling the cloud through a TCP proxy that plays the network. While the link is cut, the cloud adds,
// changes and deletes devices and a mapper reports values on the edge; once it returns, both sides agree.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type Device, type DeviceModel, deviceTopic } from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker } from '@edgetwin/eventbus';
import {
  collectMessages,
  type MessageCollector,
  startTcpProxy,
  startTestBroker,
  type TcpProxy,
} from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { type DeviceTwin, openDeviceTwin } from '../../devicetwin/src/index.js';
import { type CloudLinkEdge, startCloudLinkEdge } from '../../devicetwin/src/cloud-link/index.js';
import { type CloudLink, startCloudLink } from '../src/cloud-link/index.js';
import { ControllerClient } from '../src/http/client.js';
import { type RunningController, type StatusCoalescer, startController } from '../src/index.js';

const NODE = 'gateway-1';
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const thermoModel: DeviceModel = {
  apiVersion: API_VERSION,
  kind: 'DeviceModel',
  metadata: { name: 'thermo', namespace: 'default' },
  spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'INT', accessMode: 'ReadWrite' }] },
};

function thermo(name: string, desired: string): Device {
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'thermo' },
      nodeName: NODE,
      protocol: { protocolName: 'virtual' },
      properties: [{ name: 'temp', desired: { value: desired }, reportToCloud: true }],
    },
  };
}

/** Resolves when cond() holds, re-checked on each signal; rejects naming `what` on timeout. */
function when(
  on: (wake: () => void) => () => void,
  cond: () => boolean,
  what: string,
  timeoutMs = 8000,
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const off = on(() => {
      if (!cond()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
  });
}

interface World {
  controller: RunningController;
  twin: DeviceTwin;
  edgeLink: CloudLinkEdge;
  edgeApp: BusClient;
  results: MessageCollector;
  proxy: TcpProxy;
  cloudLink: CloudLink;
  cloudGeneration(): number;
}

async function startWorld(): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-e2e-link-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const controller = await startController({
    source: 'embedded',
    dbPath: join(dir, 'controller.db'),
    httpPort: 0,
    statusIntervalMs: 20,
  });
  closers.push(() => controller.stop());
  const cloudLink = await startCloudLink({
    desired: controller.desired,
    status: controller.status,
    broker: { embedded: { port: 0 } },
    insecureAllowAnyNode: true, // identities: cloud-link-identity.test.ts
    stateDbPath: join(dir, 'cloud-link.db'),
    registry: controller.metrics.registry,
  });
  closers.push(() => cloudLink.close());
  const proxy = await startTcpProxy(Number(new URL(cloudLink.url).port));
  closers.push(() => proxy.close());

  const edgeBroker: EmbeddedBroker = await startTestBroker();
  closers.push(() => edgeBroker.close());
  const twinBus = await connectBus({ url: edgeBroker.url, clientId: 'e2e-twin' });
  closers.push(() => twinBus.close());
  const twin = await openDeviceTwin({ dbPath: join(dir, 'edge', 'twin.db'), node: NODE, bus: twinBus });
  closers.push(() => twin.close());
  const edgeApp = await connectBus({ url: edgeBroker.url, clientId: 'e2e-mapper' });
  closers.push(() => edgeApp.close());
  const edgeLink = startCloudLinkEdge({
    twin,
    cloudUrl: proxy.url,
    backoffMs: 50,
    maxBackoffMs: 200,
    registry: twin.metrics,
  });
  closers.push(() => edgeLink.close());
  // one subscription for the whole run: the mapper's results (see reportValue)
  const results = await collectMessages(edgeApp, deviceTopic('default/+', 'twin/update/result'));
  return {
    controller,
    twin,
    edgeLink,
    edgeApp,
    results,
    proxy,
    cloudLink,
    cloudGeneration: () => cloudLink.generation(NODE),
  };
}

async function settledWithCloud(w: World): Promise<void> {
  // objects then index are published by the time the generation moves; the edge reconciles with it
  await when(
    (wake) => w.edgeLink.onSynced(wake),
    () => w.cloudGeneration() > 0 && w.edgeLink.syncedGeneration === w.cloudGeneration(),
    'the edge to reconcile with the cloud',
  );
}

/** What a mapper does: twin/update with the actual value, answered on twin/update/result once stored. */
async function reportValue(w: World, id: string, value: string): Promise<void> {
  const eventId = `e2e-${value}`;
  await w.edgeApp.publish(
    deviceTopic(id, 'twin/update'),
    JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin: { temp: { actual: { value } } } }),
  );
  await w.results.waitFor(
    (m) =>
      m.topic === deviceTopic(id, 'twin/update/result') && (m.json() as { event_id?: string }).event_id === eventId,
  );
  expect(w.twin.getTwin(id)?.twins.temp?.actual?.value).toBe(value);
}

it('after a cut link, both sides agree: the edge holds exactly the cloud devices and every edge report reaches status', async () => {
  const w = await startWorld();
  const store = w.controller.store!;
  store.apply([thermoModel, thermo('a', '20'), thermo('b', '20')]);
  await settledWithCloud(w);
  expect(
    w.twin
      .listDevices()
      .map((d) => d.id)
      .sort(),
  ).toEqual(['default/a', 'default/b']);

  const presence = () => (w.controller.status as StatusCoalescer).nodePresence().get(NODE)?.presence;
  const poll = (wake: () => void) => {
    const t = setInterval(wake, 10);
    return () => clearInterval(t);
  };
  await when(poll, () => presence() === 'online', 'the node online in the cloud');
  w.proxy.cut();
  await when(
    (wake) => w.edgeLink.onConnectionChange(wake),
    () => !w.edgeLink.connected,
    'the link to drop',
  );
  // the edge's last will
  await when(poll, () => presence() === 'offline', 'the node offline in the cloud', 3000);
  const generationBefore = w.cloudGeneration();

  // the cloud moves on: one added, one desired value changed, one deleted
  store.apply([thermo('c', '18'), thermo('a', '26')]);
  store.delete([{ kind: 'Device', namespace: 'default', name: 'b' }]);
  // the edge moves on: a mapper reports while the cloud is unreachable
  await reportValue(w, 'default/a', '21');
  await reportValue(w, 'default/a', '22');
  expect(w.twin.outbox.lastSeq()).toBeGreaterThan(w.twin.outbox.ackedSeq());
  await w.cloudLink.idle();
  expect(w.cloudGeneration()).toBeGreaterThan(generationBefore);
  expect(
    w.twin
      .listDevices()
      .map((d) => d.id)
      .sort(),
  ).toEqual(['default/a', 'default/b']);

  w.proxy.restore();
  await settledWithCloud(w);
  await when(poll, () => presence() === 'online', 'the node online again');
  const lastSeq = w.twin.outbox.lastSeq();
  await when(
    (wake) => w.edgeLink.onReportsAcked(wake),
    () => w.twin.outbox.ackedSeq() === lastSeq,
    'the cloud to acknowledge every edge report',
  );

  // edge == cloud: same devices, same desired values
  const cloudDevices = store.devices().filter((d) => d.spec.nodeName === NODE);
  expect(
    w.twin
      .listDevices()
      .map((d) => d.id)
      .sort(),
  ).toEqual(cloudDevices.map((d) => `default/${d.metadata.name}`).sort());
  for (const d of cloudDevices) {
    const id = `default/${d.metadata.name}`;
    expect(w.twin.getTwin(id)?.twins.temp?.expected?.value, id).toBe(d.spec.properties?.[0]?.desired?.value);
  }
  expect(w.twin.getTwin('default/a')?.twins.temp?.expected?.value).toBe('26');

  // cloud status holds the edge's last report (acknowledged means durable in the store)
  const status = await store.readStatus(store.device('default', 'a')!);
  const temp = status?.twins?.find((t) => t.propertyName === 'temp');
  expect(temp?.reported?.value).toBe('22');

  // get nodes shows the node's report stream as caught up (issue 9 §2)
  const nodes = await new ControllerClient(w.controller.url, { token: w.controller.apiToken }).nodes();
  expect(nodes.find((n) => n.name === NODE)?.reports).toMatchObject({ appliedSeq: lastSeq, queued: 0 });
  expect(w.controller.status).toBeDefined();
});
