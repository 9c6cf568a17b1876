// A real broker and edge twin for tests that run a mapper against the twin itself (issue 9 §5), removed by
// the cleanups the caller runs after each test.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DeviceTwin, type DeviceTwinOptions, openDeviceTwin } from '@edgetwin/devicetwin';
import { connectBus } from '@edgetwin/eventbus';
import { startTestBroker } from '@edgetwin/eventbus/testing';

export async function startTwinRig(
  node: string,
  cleanups: Array<() => Promise<unknown>>,
  options: Partial<DeviceTwinOptions> = {},
): Promise<{ brokerUrl: string; twin: DeviceTwin }> {
  const broker = await startTestBroker();
  cleanups.push(() => broker.close());
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-twin-rig-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const bus = await connectBus({ url: broker.url, clientId: `twin-${node}` });
  cleanups.push(() => bus.close());
  const twin = await openDeviceTwin({ ...options, dbPath: join(dir, 'twin.db'), node, bus });
  cleanups.push(() => twin.close());
  return { brokerUrl: broker.url, twin };
}
