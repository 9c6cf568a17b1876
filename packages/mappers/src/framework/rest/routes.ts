// The routes of the mapper REST API with KubeEdge mapper-framework's paths and JSON shapes (Go field names:
// BaseResponse {apiVersion, statusCode, timeStamp} flattened into every answer, DataModel {DeviceName,
// PropertyName, Namespace, Value, Type, TimeStamp}, DataMethod {Methods: [{Name, Path, Parameters:
// [{PropertyName, ValueType}]}]}). Errors are plain text like Go's http.Error, but with the 4xx/5xx that
// says what went wrong where KubeEdge answers 500 for everything (docs/mapper-rest.md).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  checkValue,
  deviceTopic,
  parsePushMethod,
  type ResolvedDevice,
  sameValue,
  twinMetadataType,
  type WriteStatus,
} from '@edgetwin/api';
import type { DeviceWorker } from '../device-worker.js';
import { DriverError } from '../driver.js';
import type { MapperRuntime } from '../runtime.js';

export interface RestResponse {
  status: number;
  contentType: string;
  body: string;
}

export const API_BASE = '/api/v1';

function json(status: number, payload: Record<string, unknown>): RestResponse {
  const base = { apiVersion: 'v1', statusCode: status, timeStamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
  return { status, contentType: 'application/json', body: JSON.stringify({ ...base, ...payload }) };
}

function text(status: number, message: string): RestResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${message}\n` };
}

/** A DataModel as KubeEdge's framework builds it (Go field names). */
export function dataModel(d: ResolvedDevice, property: string, value: string, type: string, timestamp: number) {
  return {
    DeviceName: d.name,
    PropertyName: property,
    Namespace: d.namespace,
    Value: value,
    Type: type,
    TimeStamp: timestamp,
  };
}

function findWorker(runtimes: MapperRuntime[], ns: string, name: string): DeviceWorker | undefined {
  const id = `${ns}/${name}`;
  for (const r of runtimes) {
    const w = r.worker(id);
    if (w) return w;
  }
  return undefined;
}

function decode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

export async function handle(req: IncomingMessage, runtimes: MapperRuntime[], writeTimeoutMs: number) {
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  if (!path.startsWith(`${API_BASE}/`))
    return text(404, `Not found: ${path} (the mapper REST API is under ${API_BASE})`);
  const parts = path
    .slice(API_BASE.length + 1)
    .split('/')
    .map(decode);
  const [route, ...args] = parts;
  const isWrite = route === 'devicemethod' && args.length === 5;
  if (method !== 'GET' && !(isWrite && (method === 'PUT' || method === 'POST')))
    return text(405, `Method ${method} not allowed on ${path}`);

  if (route === 'ping' && args.length === 0)
    return json(200, { Message: 'This is v1 API, the server is running normally.' });

  if (route === 'meta' && args[0] === 'model' && args.length === 3) {
    const w = findWorker(runtimes, args[1]!, args[2]!);
    if (!w) return text(404, `Device ${args[1]}/${args[2]} is not served by this mapper`);
    return json(200, modelOf(w.spec));
  }
  const [ns, name] = args;
  if (!ns || !name) return text(404, `Not found: ${path}`);
  const worker = findWorker(runtimes, ns, name);
  if (!worker) return text(404, `Device ${ns}/${name} is not served by this mapper`);
  const d = worker.spec;

  if (route === 'device' && args.length === 3) return readProperty(worker, d, args[2]!);
  if (route === 'devicemethod' && args.length === 2) return json(200, { Data: methodsOf(d) });
  if (isWrite) return writeThroughMethod(runtimes, worker, d, args[2]!, args[3]!, args[4]!, writeTimeoutMs);
  if (route === 'database' && args.length === 2) return databaseOf(worker, d);
  return text(404, `Not found: ${path}`);
}

async function readProperty(worker: DeviceWorker, d: ResolvedDevice, property: string): Promise<RestResponse> {
  const p = d.properties.find((x) => x.name === property);
  if (!p) return text(404, `Get device data error: device ${d.id} has no property ${property}`);
  try {
    const r = await worker.readNow(property);
    return json(200, { Data: dataModel(d, property, r.value, twinMetadataType(p.type), r.timestamp) });
  } catch (e) {
    const err = e instanceof DriverError ? e : new DriverError((e as Error).message, 'io', true);
    const status = err.code === 'not-connected' || err.code === 'connection' ? 503 : err.code === 'timeout' ? 504 : 502;
    return text(status, `Get device data error: ${err.message}`);
  }
}

export function methodsOf(d: ResolvedDevice) {
  const types = new Map(d.properties.map((p) => [p.name, twinMetadataType(p.type)]));
  return {
    Methods: d.methods.map((m) => ({
      Name: m.name,
      Path: `${API_BASE}/devicemethod/${d.namespace}/${d.name}/${m.name}/{propertyName}/{data}`,
      Parameters: (m.propertyNames ?? []).map((pn) => ({ PropertyName: pn, ValueType: types.get(pn) ?? '' })),
    })),
  };
}

function modelOf(d: ResolvedDevice) {
  return {
    name: d.model.name,
    namespace: d.model.namespace,
    properties: d.properties.map((p) => ({
      name: p.name,
      dataType: twinMetadataType(p.type),
      ...(p.description ? { description: p.description } : {}),
      accessMode: p.accessMode,
      ...(p.minimum !== undefined ? { minimum: String(p.minimum) } : {}),
      ...(p.maximum !== undefined ? { maximum: String(p.maximum) } : {}),
      ...(p.unit ? { unit: p.unit } : {}),
    })),
  };
}

function databaseOf(worker: DeviceWorker, d: ResolvedDevice): RestResponse {
  const withDb = d.properties
    .map((p) => ({
      p,
      config: parsePushMethod(p.pushMethod, { namespace: d.namespace, name: d.name, property: p.name }).config,
    }))
    .filter(({ config }) => config.influxdb2 || config.redis || config.mysql);
  if (withDb.length === 0)
    return text(503, `The database is not enabled for device ${d.id}: no property has a pushMethod.dbMethod`);
  const Data = [];
  for (const { p } of withDb) {
    const r = worker.latestReading(p.name);
    if (r) Data.push(dataModel(d, p.name, r.value, twinMetadataType(p.type), r.timestamp));
  }
  const Databases = withDb.flatMap(({ p, config }) =>
    (['influxdb2', 'redis', 'mysql'] as const)
      .filter((k) => config[k])
      .map((k) => ({ PropertyName: p.name, Database: k, Settings: config[k], Status: worker.sinkStatus(p.name, k) })),
  );
  return json(200, { Data, Databases });
}

/**
 * A write through a device method takes the route every desired value takes: it is set on the twin as an
 * edge-local desired value (twin/update with `expected`), whose delta reaches this mapper's reconciler
 * (bounds, retries, read-back, write state) like any other. The answer waits for the write's final state.
 */
async function writeThroughMethod(
  runtimes: MapperRuntime[],
  worker: DeviceWorker,
  d: ResolvedDevice,
  methodName: string,
  property: string,
  data: string,
  timeoutMs: number,
): Promise<RestResponse> {
  const m = d.methods.find((x) => x.name === methodName);
  if (!m)
    return text(
      404,
      `Write device data error: device ${d.id} has no method ${methodName} (methods: ${d.methods.map((x) => x.name).join(', ') || 'none'})`,
    );
  if (!(m.propertyNames ?? []).includes(property))
    return text(
      400,
      `Write device data error: method ${methodName} does not write property ${property} (it writes ${(m.propertyNames ?? []).join(', ')})`,
    );
  const p = d.properties.find((x) => x.name === property);
  if (!p) return text(404, `Write device data error: device ${d.id} has no property ${property}`);
  if (p.accessMode === 'ReadOnly')
    return text(400, `Write device data error: property ${property} of device ${d.id} is ReadOnly`);
  const check = checkValue(
    {
      type: p.type,
      ...(p.minimum !== undefined ? { minimum: String(p.minimum) } : {}),
      ...(p.maximum !== undefined ? { maximum: String(p.maximum) } : {}),
    },
    data,
  );
  if (!check.ok) return text(400, `Write device data error: ${property}: ${check.reason}`);

  const ok = () => json(200, { Message: `Write data ${data} to device ${d.id} successfully.` });
  const current = worker.writeState(property);
  const latest = worker.latestReading(property);
  const settled =
    (current?.desired === data && current.state === 'verified') ||
    (latest !== undefined && sameValue(p.type, latest.value, data) && (!current || current.desired === data));
  const bus = runtimes.find((r) => r.worker(d.id) === worker)!.bus;
  const final = settled
    ? undefined
    : new Promise<WriteStatus | undefined>((resolve) => {
        const timer = setTimeout(() => {
          stop();
          resolve(undefined);
        }, timeoutMs);
        const stop = worker.onWriteStatus((s) => {
          if (s.property !== property || s.desired !== data) return;
          if (s.state !== 'verified' && s.state !== 'failed') return;
          clearTimeout(timer);
          stop();
          resolve(s);
        });
      });
  await bus.publish(
    deviceTopic(d.id, 'twin/update'),
    JSON.stringify({
      event_id: `mapper-rest-${randomUUID()}`,
      timestamp: Date.now(),
      twin: { [property]: { expected: { value: data } } },
    }),
    { qos: 1 },
  );
  if (!final) return ok();
  const s = await final;
  if (!s) {
    const now = worker.writeState(property);
    return text(
      504,
      `Write device data error: ${property} = ${data} not confirmed by the device within ${timeoutMs} ms (write state: ${now?.desired === data ? (now.state ?? 'none') : 'not started'})`,
    );
  }
  if (s.state === 'failed') return text(502, `Write device data error: ${s.reason ?? 'write failed'}`);
  return ok();
}
