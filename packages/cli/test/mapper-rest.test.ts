// The mapper REST API (issue 17) on the in-process mappers of an edge node: the counter sample (KubeEdge's counter demo)
// manifests and the requests its web page sends (read count and status, set them through the device's
// methods), our 4xx where KubeEdge answers 500, and the token once the API is protected.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Device, DeviceModel } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { startRestServer } from '@edgetwin/mappers';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SAMPLE_FILES, SAMPLES } from '../../api/test/support/samples.js';
import { Lifecycle } from '../src/compose/lifecycle.js';
import { type RunningEdge, startEdge } from '../src/compose/start-edge.js';

const NODE = 'kind-worker';
const run = promisify(execFile);
const logger = pino({ level: 'silent' });
let dir: string;
let life: Lifecycle;
let edge: RunningEdge;
let api: string;

async function get(path: string, init: RequestInit = {}) {
  const res = await fetch(`${api}${path}`, init);
  const body = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body, json: () => JSON.parse(body) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-rest-'));
  life = new Lifecycle(logger);
  edge = await startEdge(
    {
      node: NODE,
      dataDir: dir,
      mqttHost: '127.0.0.1',
      mqttPort: 0,
      mappers: ['virtualProtocol'],
      rest: { port: 0, writeTimeoutMs: 5000 },
      logger,
    },
    life,
  );
  api = edge.restUrl!;
  const device = parse(await readFile(join(SAMPLES, SAMPLE_FILES.counterDevice), 'utf8')) as Device;
  const model = parse(await readFile(join(SAMPLES, SAMPLE_FILES.counterModel), 'utf8')) as DeviceModel;
  // a second device whose model has a ReadOnly property behind a method (validate refuses that; a twin
  // loaded without validation can still hold it, so the mapper checks too)
  const roModel = structuredClone(model);
  roModel.metadata.name = 'ro-model';
  roModel.spec.properties!.push({ name: 'serial', type: 'STRING', accessMode: 'ReadOnly' });
  const roDevice = structuredClone(device);
  roDevice.metadata.name = 'ro-counter';
  roDevice.spec.deviceModelRef = { name: 'ro-model' };
  roDevice.spec.properties!.push({ name: 'serial', visitors: { configData: { name: 'serial', initial: 'SN1' } } });
  roDevice.spec.methods = [{ name: 'SetSerial', propertyNames: ['serial'] }];
  const loaded = await edge.twin.loadManifests([model, device, roModel, roDevice]);
  expect(loaded.errors).toEqual([]);
  await waitUntil(
    async () => (await get('/api/v1/device/default/counter-instance/count')).status === 200,
    'counter-instance readable through the REST API',
    10_000,
  );
}, 30_000);

afterAll(async () => {
  await life?.stopAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('mapper REST API, as KubeEdge serves it', () => {
  it('ping', async () => {
    const r = await get('/api/v1/ping');
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({
      apiVersion: 'v1',
      statusCode: 200,
      Message: 'This is v1 API, the server is running normally.',
    });
    expect(r.json().timeStamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("answers the counter demo's requests: read status and count, set count through SetCount", async () => {
    const status = await get('/api/v1/device/default/counter-instance/status');
    expect(status.status).toBe(200);
    expect(status.json().Data).toMatchObject({
      DeviceName: 'counter-instance',
      PropertyName: 'status',
      Namespace: 'default',
      Type: 'string',
    });
    // pause the counter through its method (the demo's "stop" button), so a count set stays put
    const paused = await get('/api/v1/devicemethod/default/counter-instance/UpdateStatus/status/PAUSED');
    expect(paused.status, paused.body).toBe(200);
    expect(paused.json().Message).toBe('Write data PAUSED to device default/counter-instance successfully.');
    expect((await get('/api/v1/device/default/counter-instance/status')).json().Data.Value).toBe('PAUSED');

    const set = await get('/api/v1/devicemethod/default/counter-instance/SetCount/count/42');
    expect(set.status, set.body).toBe(200);
    const count = await get('/api/v1/device/default/counter-instance/count');
    expect(count.json().Data).toMatchObject({ PropertyName: 'count', Value: '42', Type: 'string' });
    expect(typeof count.json().Data.TimeStamp).toBe('number');
    // the write went the way of every desired value: the twin holds it as desired
    expect(edge.twin.getTwin('default/counter-instance')?.twins.count?.expected?.value).toBe('42');
  });

  it('takes the same write as PUT and POST on the same path', async () => {
    for (const [method, n] of [
      ['PUT', '7'],
      ['POST', '8'],
    ] as const) {
      const r = await get(`/api/v1/devicemethod/default/counter-instance/SetCount/count/${n}`, { method });
      expect(r.status, r.body).toBe(200);
      expect((await get('/api/v1/device/default/counter-instance/count')).json().Data.Value).toBe(n);
    }
    expect((await get('/api/v1/device/default/counter-instance', { method: 'POST' })).status).toBe(405);
  });

  it('lists the methods with their property types', async () => {
    const r = await get('/api/v1/devicemethod/default/counter-instance');
    expect(r.status).toBe(200);
    expect(r.json().Data.Methods).toEqual([
      {
        Name: 'UpdateStatus',
        Path: '/api/v1/devicemethod/default/counter-instance/UpdateStatus/{propertyName}/{data}',
        Parameters: [{ PropertyName: 'status', ValueType: 'string' }],
      },
      {
        Name: 'SetCount',
        Path: '/api/v1/devicemethod/default/counter-instance/SetCount/{propertyName}/{data}',
        Parameters: [{ PropertyName: 'count', ValueType: 'string' }],
      },
    ]);
  });

  it('serves the model, and says when a device has no database', async () => {
    const m = await get('/api/v1/meta/model/default/counter-instance');
    expect(m.status).toBe(200);
    expect(m.json()).toMatchObject({ name: 'counter-model', namespace: 'default' });
    expect(m.json().properties).toContainEqual(expect.objectContaining({ name: 'count', dataType: 'string' }));
    const db = await get('/api/v1/database/default/counter-instance');
    expect(db.status).toBe(503);
    expect(db.body).toContain('no property has a pushMethod.dbMethod');
  });

  it('answers 4xx with the reason where KubeEdge answers 500', async () => {
    const unknownMethod = await get('/api/v1/devicemethod/default/counter-instance/Explode/count/1');
    expect(unknownMethod.status).toBe(404);
    expect(unknownMethod.body).toContain('has no method Explode (methods: UpdateStatus, SetCount)');
    const wrongProperty = await get('/api/v1/devicemethod/default/counter-instance/SetCount/status/ON');
    expect(wrongProperty.status).toBe(400);
    expect(wrongProperty.body).toContain('method SetCount does not write property status');
    const readOnly = await get('/api/v1/devicemethod/default/ro-counter/SetSerial/serial/SN2');
    expect(readOnly.status).toBe(400);
    expect(readOnly.body).toContain('property serial of device default/ro-counter is ReadOnly');
    const noDevice = await get('/api/v1/device/default/nobody/count');
    expect(noDevice.status).toBe(404);
    expect((await get('/api/v1/device/default/counter-instance/nothing')).status).toBe(404);
  });
});

describe('mapper REST API protection', () => {
  it('needs the token once one is set (401 without it)', async () => {
    const server = await startRestServer(() => [], { port: 0, token: 's3cret-token' }, logger);
    try {
      expect((await fetch(`${server.url}/api/v1/ping`)).status).toBe(401);
      const wrong = await fetch(`${server.url}/api/v1/ping`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const right = await fetch(`${server.url}/api/v1/ping`, { headers: { authorization: 'Bearer s3cret-token' } });
      expect(right.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('serves HTTPS with the token when given a certificate', async () => {
    const tls = await mkdtemp(join(tmpdir(), 'edgetwin-rest-tls-'));
    try {
      const key = join(tls, 'key.pem');
      const cert = join(tls, 'cert.pem');
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
      const server = await startRestServer(
        () => [],
        { port: 0, token: 'tls-token', tls: { certFile: cert, keyFile: key } },
        logger,
      );
      try {
        expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const ca = await readFile(cert);
        const get = (auth?: string) =>
          new Promise<number>((resolve, reject) => {
            const req = httpsRequest(
              `${server.url}/api/v1/ping`,
              { ca, headers: auth ? { authorization: auth } : {} },
              (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
              },
            );
            req.on('error', reject);
            req.end();
          });
        expect(await get()).toBe(401);
        expect(await get('Bearer tls-token')).toBe(200);
      } finally {
        await server.close();
      }
    } finally {
      await rm(tls, { recursive: true, force: true });
    }
  });

  it('refuses to listen beyond loopback without a token and TLS', async () => {
    await expect(startRestServer(() => [], { port: 0, host: '0.0.0.0' }, logger)).rejects.toThrow(
      /beyond loopback needs a token .* and TLS/,
    );
    await expect(startRestServer(() => [], { port: 0, host: '0.0.0.0', token: 't' }, logger)).rejects.toThrow(
      /and TLS/,
    );
  });
});
