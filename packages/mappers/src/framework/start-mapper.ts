// Runs a mapper, in its own process (`edgetwin mapper`) or inside the edge process: the same MQTT
// contract either way (DESIGN.md decision 6).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type MapperPresence, mapperPresenceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import pino, { type Logger } from 'pino';
import { driverFor } from '../drivers/registry.js';
import type { WorkerOptions } from './device-worker.js';
import type { DriverFactory } from './driver.js';
import { MapperMetrics } from './metrics.js';
import { MapperRuntime } from './runtime.js';

export interface StartMapperOptions {
  /** a built-in protocol (virtualProtocol, gpio, modbus) ... */
  protocol?: string;
  /** ... or a driver factory of your own */
  factory?: DriverFactory;
  /** the edge broker to dial (mqtt://host:port) ... */
  brokerUrl?: string;
  /** ... or a bus client already connected (in-process mapper); it is not closed by stop() */
  bus?: BusClient;
  node: string;
  logger?: Logger;
  /** serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0 = any free port) */
  metricsPort?: number;
  metricsHost?: string;
  username?: string;
  password?: string;
  /** tuning of reconnects, call timeouts and write retries (tests shorten them) */
  worker?: Partial<WorkerOptions>;
}

export interface RunningMapper {
  readonly runtime: MapperRuntime;
  readonly metrics: MapperMetrics;
  /** http://host:port/metrics when metricsPort was given */
  readonly metricsUrl?: string;
  stop(): Promise<void>;
}

export async function startMapper(opts: StartMapperOptions): Promise<RunningMapper> {
  const logger = opts.logger ?? pino({ level: 'info' });
  if (!opts.factory && !opts.protocol) throw new Error('startMapper needs a protocol or a driver factory');
  if (!opts.bus && !opts.brokerUrl) throw new Error('startMapper needs a brokerUrl or a bus client');
  const factory = opts.factory ?? (await driverFor(opts.protocol!));
  const presence = mapperPresenceTopic(opts.node, factory.protocol);
  const offline: MapperPresence = { state: 'offline', protocol: factory.protocol, timestamp: Date.now() };
  const ownBus = !opts.bus;
  const dial = (url: string, will?: boolean) =>
    connectBus({
      url,
      clientId: `edgetwin-mapper-${factory.protocol}-${opts.node}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      username: opts.username,
      password: opts.password,
      logger,
      ...(will ? { will: { topic: presence, payload: JSON.stringify(offline), qos: 1 as const, retain: true } } : {}),
    });
  const bus = opts.bus ?? (await dial(opts.brokerUrl!, true));
  const metrics = new MapperMetrics();
  const runtime = new MapperRuntime({
    bus,
    node: opts.node,
    factory,
    logger,
    metrics,
    connect: (url) => dial(url),
    worker: opts.worker,
  });
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  try {
    await runtime.start();
    if (opts.metricsPort !== undefined) {
      server = await serveMetrics(metrics, opts.metricsPort, opts.metricsHost ?? '127.0.0.1');
      const a = server.address() as AddressInfo;
      metricsUrl = `http://${a.address}:${a.port}/metrics`;
      logger.info({ metricsUrl }, 'serving metrics');
    }
  } catch (e) {
    await runtime.stop().catch(() => undefined);
    if (ownBus) await bus.close().catch(() => undefined);
    throw e;
  }
  let stopped = false;
  return {
    runtime,
    metrics,
    metricsUrl,
    async stop() {
      if (stopped) return;
      stopped = true;
      await runtime.stop();
      if (server) await new Promise<void>((r) => server!.close(() => r()));
      if (ownBus) await bus.close();
    },
  };
}

function serveMetrics(metrics: MapperMetrics, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`metrics server cannot listen on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
