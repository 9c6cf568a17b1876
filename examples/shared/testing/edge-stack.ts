// Test support for the end-to-end example tests: one edge node as `edgetwin edge` composes it — a real
// broker, the DeviceTwin on a temp SQLite file, one mapper — loaded with an example's own manifests.
// The test then plays the cloud (cloudSet) and the physical world (simulated pins, Modbus simulator).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Device, deviceId } from '@edgetwin/api';
import { type DeviceTwin, openDeviceTwin } from '@edgetwin/devicetwin';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, startTestBroker } from '@edgetwin/eventbus/testing';
import { type RunningMapper, startMapper } from '@edgetwin/mappers';
import { type LoadedManifests, loadManifestFiles } from '@edgetwin/simulators';
import pino from 'pino';

export const NODE = 'edge-node-1';

export interface EdgeStack {
  broker: EmbeddedBroker;
  twin: DeviceTwin;
  mapper: RunningMapper;
  /** the manifests as loaded (after `adjust`) */
  manifests: LoadedManifests;
  /** the cloud changes desired values in a device's spec (what `edgetwin twin set` does) */
  cloudSet(id: string, values: Record<string, string>): void;
  stop(): Promise<void>;
}

export async function startEdgeStack(opts: {
  manifestsDir: string;
  protocol: string;
  /** change devices before they are loaded (point Modbus devices at the simulator's port) */
  adjust?: (device: Device) => Device;
}): Promise<EdgeStack> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-example-'));
  const silent = pino({ level: 'silent' });
  const cleanups: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const bus: BusClient = await connectBus({ url: broker.url, clientId: 'example-twin' });
    cleanups.push(() => bus.close());
    const twin = await openDeviceTwin({ dbPath: join(dir, 'twin.db'), node: NODE, bus, logger: silent });
    cleanups.push(() => twin.close());

    // The mapper starts before the devices arrive, as in `edgetwin up`.
    const mapper = await startMapper({
      protocol: opts.protocol,
      brokerUrl: broker.url,
      node: NODE,
      logger: silent,
      worker: { connectBackoffMs: 50, maxConnectBackoffMs: 200 },
    });
    cleanups.push(() => mapper.stop());
    const manifests = await loadManifestFiles([opts.manifestsDir]);
    if (opts.adjust) manifests.devices = manifests.devices.map(opts.adjust);
    const result = await twin.loadManifests([...manifests.models, ...manifests.devices]);
    if (result.errors.length > 0)
      throw new Error(
        `manifests in ${opts.manifestsDir} refused: ${result.errors.map((e) => `${e.object}: ${e.reason}`).join('; ')}`,
      );

    let version = 1000;
    return {
      broker,
      twin,
      mapper,
      manifests,
      cloudSet(id, values) {
        const device = manifests.devices.find((d) => deviceId(d) === id);
        if (!device) throw new Error(`no device ${id} in ${opts.manifestsDir}`);
        const next = structuredClone(device);
        for (const [name, value] of Object.entries(values)) {
          const p = next.spec.properties?.find((q) => q.name === name);
          if (!p) throw new Error(`device ${id} has no property ${name}`);
          p.desired = { value };
        }
        next.metadata.resourceVersion = String(++version);
        manifests.devices = manifests.devices.map((d) => (d === device ? next : d));
        twin.upsertDevice(next);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
