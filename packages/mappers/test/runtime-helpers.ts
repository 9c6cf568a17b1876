// A mapper on a real embedded broker, an app client, and helpers to publish devices and deltas.

import { deviceTopic, mapperDeviceTopic, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { startTestBroker } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import type { DriverFactory } from '../src/framework/driver.js';
import { type RunningMapper, type StartMapperOptions, startMapper } from '../src/framework/start-mapper.js';
import { uniqueName } from './fixtures.js';

export const NODE = 'node-a';

export function prop(name: string, over: Partial<ResolvedProperty> = {}): ResolvedProperty {
  return {
    name,
    type: 'INT',
    accessMode: 'ReadWrite',
    visitor: { name },
    collectCycleMs: 100,
    reportCycleMs: 100,
    reportToCloud: true,
    ...over,
  };
}

export function device(
  protocol: string,
  properties: ResolvedProperty[],
  over: Partial<ResolvedDevice> = {},
): ResolvedDevice {
  const name = uniqueName('dev');
  return {
    id: `default/${name}`,
    namespace: 'default',
    name,
    nodeName: NODE,
    protocol,
    protocolConfig: {},
    model: { namespace: 'default', name: 'm' },
    properties,
    methods: [],
    stateReport: { reportToCloud: true, reportCycleMs: 60_000 },
    version: '1/1',
    ...over,
  };
}

export interface Rig {
  app: BusClient;
  mapper: RunningMapper;
  brokerUrl: string;
  publish(d: ResolvedDevice): Promise<void>;
  remove(id: string): Promise<void>;
  delta(id: string, values: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startRig(factory: DriverFactory, extra: Partial<StartMapperOptions> = {}): Promise<Rig> {
  const broker = await startTestBroker();
  const app = await connectBus({ url: broker.url, clientId: uniqueName('app') });
  const mapper = await startMapper({
    factory,
    brokerUrl: broker.url,
    node: NODE,
    logger: pino({ level: 'silent' }),
    worker: { connectBackoffMs: 30, maxConnectBackoffMs: 100, writeRetry: { maxAttempts: 3, baseMs: 10, maxMs: 50 } },
    ...extra,
  });
  return {
    app,
    mapper,
    brokerUrl: broker.url,
    publish: (d) =>
      app.publish(mapperDeviceTopic(NODE, factory.protocol, d.id), JSON.stringify(d), { qos: 1, retain: true }),
    remove: (id) => app.publish(mapperDeviceTopic(NODE, factory.protocol, id), '', { qos: 1, retain: true }),
    delta: (id, values) =>
      app.publish(
        deviceTopic(id, 'twin/update/delta'),
        JSON.stringify({ event_id: 'test', timestamp: Date.now(), twin: {}, delta: values }),
        { qos: 1 },
      ),
    async close() {
      await mapper.stop();
      await app.close();
      await broker.close();
    },
  };
}

/** What collectReports shows for one device's report entry. */
export type TwinUpdate = { twin: Record<string, { actual: { value: string } }> };
