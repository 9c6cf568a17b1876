// `edgetwin up` as a newcomer runs it: the traffic light changes on its own, a desired value set from the
// cloud reaches the simulated LED and comes back as reported, Ctrl-C stops it, and a restart resumes.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deviceTopic } from '@edgetwin/api';
import { ControllerClient } from '@edgetwin/device-controller';
import { readClientToken } from '@edgetwin/device-controller/cli/client-config';
import { connectBus } from '@edgetwin/eventbus/client';
import { collectMessages, freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { startAsyncuaServer } from '@edgetwin/simulators/opcua/asyncua';
import { afterEach, describe, expect, it } from 'vitest';
import { SAMPLE_FILES, SAMPLES } from '../../api/test/support/samples.js';

const BIN = resolve(import.meta.dirname, '../bin/edgetwin.js');

interface Up {
  child: ChildProcess;
  stdout: () => string;
  controllerUrl: string;
  edgeUrl: string;
}

/** Every port `up` opens, on a free one: stacks side by side never collide (issue 9 §5). */
const FREE_PORTS = ['--port', '0', '--cloud-port', '0', '--http-port', '0', '--rest-port', '0'];

/** `edgetwin up` run in `cwd`, with its default data dir (.edgetwin there) */
async function startUp(cwd: string, args = ['--example', 'led-raspberrypi', 'traffic-light']): Promise<Up> {
  const child = spawn(process.execPath, [BIN, 'up', ...args, ...FREE_PORTS], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (err += b));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`edgetwin up exited with ${code} before it was up:\n${err}`))),
  );
  // A first start also generates the link's TLS certificate (RSA keygen); at load average 15-20 on the
  // shared 2-core machine the banner took 19 s, so the bound leaves room (it waits on the banner, not time).
  const banner = waitUntil(() => /Ctrl-C stops/.test(out), 'the banner of edgetwin up', 60_000);
  await Promise.race([banner, exited]);
  const controllerUrl = /controller API\s+(\S+)/.exec(out)?.[1];
  const edgeUrl = /edge MQTT\s+(\S+)/.exec(out)?.[1];
  if (!controllerUrl || !edgeUrl) throw new Error(`banner without addresses:\n${out}`);
  return { child, stdout: () => out, controllerUrl, edgeUrl };
}

/** A CLI command as a user types it on the same machine: no --server, no token, no flag. */
function cli(cwd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' };
  for (const k of ['EDGETWIN_SERVER', 'EDGETWIN_TOKEN', 'EDGETWIN_TOKEN_FILE', 'EDGETWIN_CONFIG', 'EDGETWIN_DATA_DIR'])
    delete env[k];
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

const anonymous = (url: string) => fetch(`${url}/devices`);

function stop(up: Up): Promise<number | null> {
  return new Promise((res) => {
    if (up.child.exitCode !== null) return res(up.child.exitCode);
    up.child.once('exit', (code) => res(code));
    up.child.kill('SIGINT');
  });
}

describe('edgetwin up', () => {
  let dataDir: string;
  const running: Up[] = [];

  afterEach(async () => {
    for (const up of running.splice(0)) if (up.child.exitCode === null) up.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('cycles the traffic light, carries a cloud desired value to the LED and back, stops on Ctrl-C and resumes', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgetwin-up-'));
    const up = await startUp(dataDir);
    running.push(up);
    expect(up.stdout()).toContain('examples          led-raspberrypi, traffic-light');

    // The traffic light changes by itself: two different colours lit, seen as a KubeEdge app sees them.
    const bus = await connectBus({ url: up.edgeUrl });
    try {
      const docs = await collectMessages(bus, deviceTopic('default/traffic-light-01', 'twin/update/document'));
      const lit = new Set<string>();
      await docs.waitFor((m) => {
        const twin = (m.json() as { twin: Record<string, { current?: { actual?: { value?: string } } }> }).twin;
        for (const [colour, t] of Object.entries(twin)) if (t.current?.actual?.value === 'ON') lit.add(colour);
        return lit.size >= 2;
      }, 20_000);
    } finally {
      await bus.close();
    }

    // The cloud sets the LED on with `twin set` as typed by the user (no flag: the CLI finds the API
    // and its token in ./.edgetwin/client.json); the simulated pin follows and the cloud sees it reported.
    const set = await cli(dataDir, 'twin', 'set', 'led-light-instance-01', 'power-status=ON');
    expect(set.out).toContain('power-status desired = ON');
    expect(set.code).toBe(0);
    const cloud = new ControllerClient(up.controllerUrl, { token: readClientToken(join(dataDir, '.edgetwin')) });
    expect((await anonymous(up.controllerUrl)).status).toBe(401);
    await waitUntil(
      async () => {
        const { device } = await cloud.device('default', 'led-light-instance-01');
        const twin = device.status?.twins?.find((t) => t.propertyName === 'power-status');
        return twin?.reported?.value === 'ON';
      },
      'power-status reported ON in the cloud',
      15_000,
      200,
    );

    expect(await stop(up)).toBe(0);

    // Starting again resumes from the data dir: nothing re-applied, the desired value kept.
    const again = await startUp(dataDir);
    running.push(again);
    expect(again.stdout()).toContain('resumed');
    const { device } = await new ControllerClient(again.controllerUrl, {
      token: readClientToken(join(dataDir, '.edgetwin')),
    }).device('default', 'led-light-instance-01');
    expect(device.spec.properties?.find((p) => p.name === 'power-status')?.desired?.value).toBe('ON');
    expect(await stop(again)).toBe(0);
  }, 180_000);

  it('serves the simulated Modbus devices on --modbus-port and points them at it; a busy port names its flag', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgetwin-up-'));
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const held = (holder.address() as AddressInfo).port;
    try {
      const refused = await cli(
        dataDir,
        'up',
        '--example',
        'parking',
        '--no-apps',
        ...FREE_PORTS,
        '--modbus-port',
        `${held}`,
      );
      expect(refused.code).toBe(1);
      expect(refused.out).toContain(
        `edgetwin: port ${held} is already in use: choose another with --modbus-port (0 picks a free one). Is another \`edgetwin up\` running?`,
      );
    } finally {
      await new Promise((r) => holder.close(r));
    }

    const up = await startUp(dataDir, ['--example', 'parking', '--no-apps', '--modbus-port', '0']);
    running.push(up);
    const port = /modbus simulator\s+127\.0\.0\.1:(\d+)/.exec(up.stdout())?.[1];
    expect(port).toBeDefined();
    expect(port).not.toBe('5502');
    const cloud = new ControllerClient(up.controllerUrl, { token: readClientToken(join(dataDir, '.edgetwin')) });
    await waitUntil(
      async () => {
        const { device } = await cloud.device('default', 'parking-bay-01');
        const reported = device.status?.twins?.find((t) => t.propertyName === 'distance')?.reported?.value;
        return device.spec.protocol?.configData?.port === port && reported !== undefined;
      },
      'parking-bay-01 pointed at the simulator and reporting its distance',
      20_000,
      200,
    );
    expect(await stop(up)).toBe(0);
  }, 90_000);

  it("serves the mapper REST API on loopback: KubeEdge's counter demo requests answer against up", async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgetwin-up-'));
    const manifests = join(dataDir, 'counter');
    await mkdir(manifests);
    for (const f of [SAMPLE_FILES.counterModel, SAMPLE_FILES.counterDevice])
      await copyFile(join(SAMPLES, f), join(manifests, f));
    const up = await startUp(dataDir, ['--manifests', manifests, '--node', 'kind-worker', '--no-apps']);
    running.push(up);
    const api = /mapper REST API\s+(\S+)/.exec(up.stdout())?.[1];
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    const get = async (path: string) => {
      const res = await fetch(`${api}${path}`);
      return { status: res.status, json: (await res.json().catch(() => undefined)) as { Data?: { Value?: string } } };
    };
    expect((await get('/ping')).status).toBe(200);
    // the demo's page: read the count, set it through the device's method, read it back
    await waitUntil(
      async () => (await get('/device/default/counter-instance/count')).status === 200,
      'count readable',
      30_000,
      200,
    );
    const set = await get('/devicemethod/default/counter-instance/SetCount/count/42');
    expect(set.status).toBe(200);
    await waitUntil(
      async () => Number((await get('/device/default/counter-instance/count')).json.Data?.Value) >= 42,
      'the count set through the method',
      15_000,
      200,
    );
    expect(await stop(up)).toBe(0);
  }, 120_000);

  it('serves the OPC-UA line PLC on --opcua-port and points it at it; a busy port names its flag', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgetwin-up-'));
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const held = (holder.address() as AddressInfo).port;
    try {
      const refused = await cli(dataDir, 'up', '--example', 'line-plc', ...FREE_PORTS, '--opcua-port', `${held}`);
      expect(refused.code).toBe(1);
      expect(refused.out).toContain(
        `edgetwin: port ${held} is already in use: choose another with --opcua-port (0 picks a free one).`,
      );
    } finally {
      await new Promise((r) => holder.close(r));
    }

    const up = await startUp(dataDir, ['--example', 'line-plc', '--opcua-port', '0']);
    running.push(up);
    const url = /opcua simulator\s+(opc\.tcp:\/\/127\.0\.0\.1:\d+) \(default\/line-plc-01\)/.exec(up.stdout())?.[1];
    expect(url).toBeDefined();
    expect(url).not.toBe('opc.tcp://127.0.0.1:4840');
    const set = await cli(dataDir, 'twin', 'set', 'line-plc-01', 'setpoint=205.5');
    expect(set.code).toBe(0);
    const cloud = new ControllerClient(up.controllerUrl, { token: readClientToken(join(dataDir, '.edgetwin')) });
    await waitUntil(
      async () => {
        const { device } = await cloud.device('default', 'line-plc-01');
        const reported = (name: string) => device.status?.twins?.find((t) => t.propertyName === name)?.reported?.value;
        return (
          device.spec.protocol?.configData?.url === url && reported('setpoint') === '205.5' && !!reported('temperature')
        );
      },
      'line-plc-01 pointed at the simulator, its setpoint written and its temperature reported',
      30_000,
      200,
    );
    expect(await stop(up)).toBe(0);
  }, 120_000);

  it('runs a manifest written by `probe opcua` against the real server with --no-simulators', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgetwin-up-'));
    const server = await startAsyncuaServer({ port: await freePort(), pki: join(dataDir, 'pki') });
    try {
      // stdout alone: the manifest
      const manifest = await promisify(execFile)(
        process.execPath,
        [BIN, 'probe', 'opcua', server.url, '--filter', '*/oven/*', '-o', 'yaml', '--name', 'oven'],
        { cwd: dataDir },
      );
      await mkdir(join(dataDir, 'manifests'));
      await writeFile(join(dataDir, 'manifests', 'oven.yaml'), manifest.stdout);

      const up = await startUp(dataDir, ['--manifests', join(dataDir, 'manifests'), '--no-simulators']);
      running.push(up);
      expect(up.stdout()).not.toContain('opcua simulator');
      const cloud = new ControllerClient(up.controllerUrl, { token: readClientToken(join(dataDir, '.edgetwin')) });
      await waitUntil(
        async () => {
          const { device } = await cloud.device('default', 'oven');
          return device.status?.twins?.find((t) => t.propertyName === 'temperature')?.reported?.value === '180.5';
        },
        'the asyncua oven temperature reported in the cloud',
        30_000,
        200,
      );
      expect(await stop(up)).toBe(0);
    } finally {
      await server.stop();
    }
  }, 150_000);
});
