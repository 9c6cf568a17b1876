// `edgetwin probe opcua URL` as a user runs it (issue 11), against the independent asyncua server and our
// node-opcua simulator: the table names every variable (NodeId, browse path, DataType, access, range),
// --filter narrows it, -o yaml writes a manifest that validates and that the driver reads as is, and the
// connection flags are the driver's (an unpinned certificate is refused with the driver's reason).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Device, type DeviceModel, formatFinding, resolveDevice, validateManifests } from '@edgetwin/api';
import { freePort } from '@edgetwin/eventbus/testing';
import { createOpcuaDriverFactory } from '@edgetwin/mappers/drivers/opcua/index';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import {
  type LoadedManifests,
  type OpcuaSimulator,
  parseManifestText,
  resolveManifests,
  startOpcuaSimulator,
} from '@edgetwin/simulators';
import { type AsyncuaServer, startAsyncuaServer } from '@edgetwin/simulators/opcua/asyncua';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const CLI = fileURLToPath(new URL('../bin/edgetwin.js', import.meta.url));
let dir: string;
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [CLI, 'probe', 'opcua', ...args], {
    cwd: dir,
    env: { ...process.env, EDGETWIN_OPCUA_DATA_DIR: join(dir, 'opcua') },
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS()) as [DeviceModel, Device];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-probe-opcua-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edgetwin probe opcua against asyncua', { timeout: 120_000 }, () => {
  let server: AsyncuaServer;
  beforeAll(async () => {
    server = await startAsyncuaServer({ port: await freePort(), pki: join(dir, 'pki') });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('lists every variable: NodeId, browse path, DataType, access, range and unit, value', async () => {
    const r = await run(server.url);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^NODE ID\s+BROWSE PATH\s+DATA TYPE\s+ACCESS\s+RANGE\s+VALUE$/);
    expect(r.stdout).toMatch(/ns=2;s=Float\s+\/2:Line1\/2:Float\s+Float\s+ReadWrite\s+12\.3\n/);
    expect(r.stdout).toMatch(/ns=2;s=UInt64\s+\/2:Line1\/2:UInt64\s+UInt64\s+ReadWrite\s+18446744073709551615\n/);
    expect(r.stdout).toMatch(/ns=2;s=Serial\s+\/2:Line1\/2:Serial\s+String\s+ReadOnly\s+SN-42\n/);
    expect(r.stdout).toMatch(/ns=2;s=Series\s+\/2:Line1\/2:Series\s+Double\[\]\s+ReadWrite\s+\[1\.5,2,3\]\n/);
    expect(r.stdout).toMatch(
      /ns=2;s=Line1\.Oven\.Temperature\s+\/2:Line1\/2:Oven\/2:Temperature\s+Double\s+ReadOnly\s+0\.\.250 °C\s+180\.5\n/,
    );
    expect(r.stdout).toMatch(/ns=2;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63\s+\/2:Line1\/2:ByGuid\s+Int32/i);
    // the server's own Server object (namespace 0) is not a device's data; EURange is metadata, not a row
    expect(r.stdout).not.toMatch(/ServerStatus|EURange/);
    expect(r.stdout).toContain('21 of 21 variables');
  });

  it('--filter narrows by browse path or NodeId (a glob, else a substring); no match exits 1', async () => {
    // three runs at once: each CLI start costs seconds on the shared machine
    const [glob, sub, none] = await Promise.all([
      run(server.url, '--filter', 'line1/oven/*'),
      run(server.url, '--filter', 'int'),
      run(server.url, '--filter', 'no-such-thing'),
    ]);
    expect(glob.stdout).toContain('1 of 21 variables');
    expect(sub.stdout.match(/^ns=2;s=U?Int\d+ /gm)).toHaveLength(6);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no variable matches "no-such-thing" (21 seen below Objects)');
  });

  it('-o yaml writes a DeviceModel + Device that validates and that the driver reads unchanged', async () => {
    const r = await run(server.url, '-o', 'yaml', '--name', 'line-1', '--node', 'edge-a');
    expect(r.code).toBe(0);
    const v = validateManifests([{ file: 'line-1.yaml', text: r.stdout }], { protocols: driverValidators });
    expect(v.findings.map(formatFinding)).toEqual([]);
    const [model, device] = docsOf(r.stdout);
    const mp = (n: string) => model.spec.properties?.find((p) => p.name === n);
    expect(mp('float')).toMatchObject({ type: 'FLOAT', accessMode: 'ReadWrite' });
    expect(mp('uint64')).toMatchObject({ type: 'INT' });
    expect(mp('serial')).toMatchObject({ type: 'STRING', accessMode: 'ReadOnly' });
    expect(mp('series')).toMatchObject({ type: 'STRING' });
    expect(mp('temperature')).toMatchObject({
      type: 'DOUBLE',
      accessMode: 'ReadOnly',
      minimum: '0',
      maximum: '250',
      unit: '°C',
    });
    expect(device.spec.nodeName).toBe('edge-a');
    expect(device.spec.protocol?.configData).toEqual({ url: server.url });
    // NodeIds by namespace URI, so a server that renumbers its namespaces keeps the manifest right
    expect(device.spec.properties?.find((p) => p.name === 'temperature')?.visitors?.configData).toEqual({
      nodeID: 'nsu=urn:edgetwin:asyncua;s=Line1.Oven.Temperature',
      dataType: 'Double',
    });

    // the manifest as written drives the mapper's driver: every property reads
    const resolved = resolveDevice(device, model);
    const driver = createOpcuaDriverFactory({ dataDir: join(dir, 'opcua') }).create(resolved, {
      logger: pino({ level: 'silent' }),
      signal: new AbortController().signal,
    });
    await driver.connect();
    try {
      const read = await driver.readBatch(resolved.properties);
      const failed = [...read].filter(([, x]) => !x.ok);
      expect(failed).toEqual([]);
      expect(read.get('temperature')).toMatchObject({ ok: true, value: 180.5 });
    } finally {
      await driver.disconnect();
    }
  });

  it('names a flag the driver config refuses, before connecting', async () => {
    const [r, bad] = await Promise.all([run(server.url, '--user', 'operator'), run('http://plc')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('edgetwin probe opcua: --password-file: is missing');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('URL: "http://plc" is not an opc.tcp://host[:port][/path] endpoint');
  });
});

describe('edgetwin probe opcua on a secured asyncua server', { timeout: 120_000 }, () => {
  let server: AsyncuaServer;
  beforeAll(async () => {
    writeFileSync(join(dir, 'users.txt'), 'operator:s3cret\n');
    writeFileSync(join(dir, 'password'), 's3cret\n', { mode: 0o600 });
    server = await startAsyncuaServer({
      port: await freePort(),
      pki: join(dir, 'secure-pki'),
      args: ['--secure', '--users', join(dir, 'users.txt')],
    });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  const secure = () => [
    '--security-mode',
    'SignAndEncrypt',
    '--user',
    'operator',
    '--password-file',
    join(dir, 'password'),
  ];

  it('refuses a server certificate nobody trusted, saying how to trust it', async () => {
    const r = await run(server.url, ...secure());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot connect: server certificate [0-9a-f:]+ is not trusted: pin it \(remoteCertificate\), add it to trustFolder, or set trustOnFirstUse/,
    );
  });

  it('browses with the pinned certificate and the user, and writes those keys into the manifest', async () => {
    const r = await run(
      server.url,
      ...secure(),
      '--server-certificate',
      server.certificateFile,
      '--filter',
      'double',
      '-o',
      'yaml',
    );
    expect(r.code).toBe(0);
    const [, device] = docsOf(r.stdout);
    expect(device.spec.protocol?.configData).toEqual({
      url: server.url,
      securityMode: 'SignAndEncrypt',
      userName: 'operator',
      password: join(dir, 'password'),
      remoteCertificate: server.certificateFile,
    });
  });
});

describe('edgetwin probe opcua against the simulator', { timeout: 120_000 }, () => {
  let sim: OpcuaSimulator;
  const MANIFEST = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: oven-model }
spec:
  protocol: opcua
  properties:
    - { name: temperature, type: DOUBLE, accessMode: ReadOnly, minimum: "20", maximum: "300", unit: degC }
    - { name: setpoint, type: FLOAT, accessMode: ReadWrite, minimum: "20", maximum: "250", unit: degC }
    - { name: running, type: BOOLEAN, accessMode: ReadWrite }
    - { name: recipe, type: STRING, accessMode: ReadWrite }
    - { name: batches, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: oven }
spec:
  deviceModelRef: { name: oven-model }
  nodeName: edge-node-1
  protocol: { protocolName: opcua, configData: { url: "opc.tcp://127.0.0.1:4840" } }
  properties:
    - { name: temperature, visitors: { protocolName: opcua, configData: { nodeID: "nsu=urn:acme:oven;s=Oven.Temperature" } } }
    - { name: setpoint, visitors: { protocolName: opcua, configData: { nodeID: "nsu=urn:acme:oven;s=Oven.Setpoint" } } }
    - { name: running, visitors: { protocolName: opcua, configData: { nodeID: "nsu=urn:acme:oven;s=Oven.Running" } } }
    - { name: recipe, visitors: { protocolName: opcua, configData: { nodeID: "nsu=urn:acme:oven;s=Oven.Recipe" } } }
    - { name: batches, visitors: { protocolName: opcua, configData: { nodeID: "nsu=urn:acme:oven;i=7", dataType: UInt32 } } }
`;
  beforeAll(async () => {
    const loaded: LoadedManifests = { models: [], devices: [] };
    parseManifestText(MANIFEST, 'oven.yaml', loaded);
    sim = await startOpcuaSimulator({
      devices: resolveManifests(loaded),
      port: 0,
    });
  }, 60_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('gives back the model the simulator was made from: types, access, ranges, units, NodeIds', async () => {
    const r = await run(sim.url, '-o', 'yaml', '--name', 'oven');
    expect(r.code).toBe(0);
    const [model, device] = docsOf(r.stdout);
    const original = docsOf(MANIFEST);
    const strip = ({ description: _d, ...rest }: { name: string; description?: string }) => rest;
    const byName = <T extends { name: string }>(ps: T[] = []) => [...ps].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(model.spec.properties).map(strip)).toEqual(byName(original[0].spec.properties));
    expect(
      Object.fromEntries((device.spec.properties ?? []).map((p) => [p.name, p.visitors?.configData?.nodeID])),
    ).toEqual({
      temperature: 'nsu=urn:acme:oven;s=Oven.Temperature',
      setpoint: 'nsu=urn:acme:oven;s=Oven.Setpoint',
      running: 'nsu=urn:acme:oven;s=Oven.Running',
      recipe: 'nsu=urn:acme:oven;s=Oven.Recipe',
      batches: 'nsu=urn:acme:oven;i=7',
    });
  });
});
