// Runs a mapper, in its own process (`edgetwin mapper`) or inside the edge process: the same MQTT
// contract either way (DESIGN.md decision 6).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type MapperPresence, mapperPresenceTopic } from '@edgetwin/api';
import { CLOSE_GRACE_MS, connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import pino, { type Logger } from 'pino';
import { driverFor } from '../drivers/registry.js';
import { untilSettledOr } from './backoff.js';
import type { WorkerOptions } from './device-worker.js';
import type { DriverFactory } from './driver.js';
import { MapperMetrics } from './metrics.js';
import { type RestOptions, type RestServer, startRestServer } from './rest/server.js';
import type { ReportChannelOptions } from './report-channel.js';
import { MapperRuntime } from './runtime.js';
import type { SinkLimits } from './sinks/batching-sink.js';

/** How long a stop may take, from the signal to the exit (docs/mappers.md, "Stopping"). */
export const DEFAULT_STOP_TIMEOUT_MS = 3000;

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
  /** the longest stop() may take (default DEFAULT_STOP_TIMEOUT_MS); farewells not sent by then are dropped */
  stopTimeoutMs?: number;
  /** aborting it during start-up stops what was started and rejects with MapperStartAborted */
  signal?: AbortSignal;
  /** serve KubeEdge's mapper REST API (port 7777 by default); absent = no REST API */
  rest?: RestOptions;
  /** batching and buffering of the database/OTLP sinks (tests shrink them) */
  sinks?: Partial<SinkLimits>;
  /** batching of the report channel to the twin (flushMs, maxBatchBytes) */
  reports?: Partial<ReportChannelOptions>;
}

/** startMapper was asked to stop (its signal aborted) before it finished starting. */
export class MapperStartAborted extends Error {
  override readonly name = 'MapperStartAborted';
  constructor() {
    super('mapper start aborted: asked to stop while starting');
  }
}

export interface RunningMapper {
  readonly runtime: MapperRuntime;
  readonly metrics: MapperMetrics;
  /** http://host:port/metrics when metricsPort was given */
  readonly metricsUrl?: string;
  /** http(s)://host:port of the REST API when `rest` was given */
  readonly restUrl?: string;
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
  const stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const signal = opts.signal ?? new AbortController().signal;
  // Resolves with p, or rejects once the caller asks to stop; p's late result is handed to `late`.
  const unlessAborted = <T>(p: Promise<T>, late?: (value: T) => void): Promise<T> => {
    if (signal.aborted) return Promise.reject(new MapperStartAborted());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        p.then(late, () => undefined);
        reject(new MapperStartAborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  };
  const bus =
    opts.bus ?? (await unlessAborted(dial(opts.brokerUrl!, true), (late) => void late.close().catch(() => undefined)));
  const metrics = new MapperMetrics();
  const runtime = new MapperRuntime({
    bus,
    node: opts.node,
    factory,
    logger,
    metrics,
    connect: (url) => dial(url),
    worker: opts.worker,
    ...(opts.sinks ? { sinks: opts.sinks } : {}),
    ...(opts.reports ? { reports: opts.reports } : {}),
  });
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  let rest: RestServer | undefined;
  let stopped: Promise<void> | undefined;
  /**
   * Bounded (issue 9 §5): the farewells (unsubscribes, devices and presence offline) get the stop budget
   * less CLOSE_GRACE_MS, then the connection is closed, forcibly if the broker does not answer.
   */
  const stop = () => {
    stopped ??= (async () => {
      const farewell = AbortSignal.timeout(Math.max(0, stopTimeoutMs - CLOSE_GRACE_MS));
      if (rest) await untilSettledOr(rest.close(), farewell);
      await runtime.stop(farewell);
      if (server) await untilSettledOr(new Promise<void>((r) => server!.close(() => r())), farewell);
      if (ownBus) await bus.close();
    })();
    return stopped;
  };
  try {
    await unlessAborted(runtime.start());
    if (opts.rest)
      rest = await unlessAborted(
        startRestServer(() => [runtime], opts.rest, logger),
        (r) => r.close(),
      );
    if (opts.metricsPort !== undefined) {
      server = await unlessAborted(serveMetrics(metrics, opts.metricsPort, opts.metricsHost ?? '127.0.0.1'), (s) =>
        s.close(),
      );
      const a = server.address() as AddressInfo;
      metricsUrl = `http://${a.address}:${a.port}/metrics`;
      logger.info({ metricsUrl }, 'serving metrics');
    }
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { runtime, metrics, metricsUrl, ...(rest ? { restUrl: rest.url } : {}), stop };
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
