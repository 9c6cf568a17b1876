// An edge node for the real-API-server tier (issue 14): a twin on SQLite with its own edge broker, an app
// client standing in for a mapper (its twin/update results collected), and the cloud end of the link started
// against `cloudUrl`. One home for what kube-controller.test.ts and kube-leader.test.ts both set up.

import { join } from 'node:path';
import { deviceTopic } from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker } from '@edgetwin/eventbus';
import { collectMessages, type MessageCollector, startTestBroker } from '@edgetwin/eventbus/testing';
import {
  type CloudLinkEdge,
  type CloudLinkEdgeOptions,
  startCloudLinkEdge,
} from '../../devicetwin/src/cloud-link/index.js';
import { type DeviceTwin, openDeviceTwin } from '../../devicetwin/src/index.js';

export interface TestEdge {
  twin: DeviceTwin;
  /** the mapper's client on the edge bus */
  app: BusClient;
  /** every twin/update/result the app received */
  results: MessageCollector;
  link: CloudLinkEdge;
  close(): Promise<void>;
}

export async function startTestEdge(opts: {
  dir: string;
  node: string;
  cloudUrl: string;
  link?: Partial<CloudLinkEdgeOptions>;
}): Promise<TestEdge> {
  const broker: EmbeddedBroker = await startTestBroker();
  const bus = await connectBus({ url: broker.url, clientId: `${opts.node}-twin` });
  const twin = await openDeviceTwin({ dbPath: join(opts.dir, 'twin.db'), node: opts.node, bus });
  const app = await connectBus({ url: broker.url, clientId: `${opts.node}-mapper` });
  const results = await collectMessages(app, deviceTopic('default/+', 'twin/update/result'));
  const link = startCloudLinkEdge({
    twin,
    cloudUrl: opts.cloudUrl,
    backoffMs: 50,
    maxBackoffMs: 500,
    registry: twin.metrics,
    ...opts.link,
  });
  return {
    twin,
    app,
    results,
    link,
    async close() {
      await link.close();
      await app.close();
      twin.close();
      await bus.close();
      await broker.close();
    },
  };
}
