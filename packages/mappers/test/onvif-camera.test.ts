// The ONVIF driver against the emulated camera (issue 13): profiles, the stream URI, a snapshot that decodes
// as a real JPEG of the camera's size (checked by Debian's ffprobe, not by our parser), PTZ and presets read
// back, a wrong password, the camera going away and coming back, and a device in the shape of KubeEdge's
// v1.17 onvif-mapper sample running unchanged in the whole mapper (twin reports, state, media topic).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { configErrors, mediaTopic, resolveDevice, type Device, type DeviceModel } from '@edgetwin/api';
import { type EmulatedCamera, startEmulatedCamera } from '@edgetwin/simulators/onvif/ipycam';
import pino from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDriver, ReadResult } from '../src/framework/driver.js';
import { onvifDriverFactory, readPasswordFile } from '../src/drivers/onvif/index.js';
import { device, prop, startRig, type TwinUpdate } from './runtime-helpers.js';
import { collectReports, collectStates } from '../src/conformance/report-collector.js';

const run = promisify(execFile);

let cam: EmulatedCamera;
let scratch: string;
beforeAll(async () => {
  cam = await startEmulatedCamera({ width: 320, height: 240 });
  scratch = mkdtempSync(join(tmpdir(), 'edgetwin-onvif-'));
});
afterAll(async () => {
  await cam?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function cameraDevice(props: Parameters<typeof device>[1], over: Record<string, unknown> = {}) {
  return device('onvif', props, {
    protocolConfig: { url: cam.address, userName: cam.userName, password: cam.passwordFile, timeout: 3000, ...over },
  });
}

async function withDriver<T>(
  d: ReturnType<typeof cameraDevice>,
  f: (drv: DeviceDriver, published: Array<{ topic: string; payload: Buffer }>) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const published: Array<{ topic: string; payload: Buffer }> = [];
  const drv = onvifDriverFactory.create(d, {
    logger: pino({ level: 'silent' }),
    signal: abort.signal,
    publish: async (topic, payload) => {
      published.push({ topic, payload });
    },
  });
  try {
    return await f(drv, published);
  } finally {
    abort.abort();
    await drv.disconnect();
  }
}

const value = (r: ReadResult | undefined) => {
  if (!r?.ok) throw new Error(`read failed: ${r ? r.error.message : 'no result'}`);
  return r.value;
};

describe('ONVIF driver against ipycam', () => {
  it('reads device information, both profiles and the stream URI the camera serves', async () => {
    const d = cameraDevice([
      prop('manufacturer', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
      prop('serialNumber', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
      prop('profiles', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
      prop('streamURI', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
      prop('subStream', {
        type: 'STRING',
        accessMode: 'ReadOnly',
        visitor: { data: 'streamURI', profile: 'SubStream' },
      }),
      prop('streamReachable', { type: 'BOOLEAN', accessMode: 'ReadOnly', visitor: {} }),
    ]);
    await withDriver(d, async (drv) => {
      await drv.connect();
      const r = await drv.readBatch(d.properties);
      expect(value(r.get('manufacturer'))).toBe('edgetwin-test');
      expect(value(r.get('serialNumber'))).toBe('EDGETWIN-0001');
      const profiles = JSON.parse(String(value(r.get('profiles'))));
      expect(profiles.map((p: { token: string }) => p.token)).toEqual(['Profile_Main', 'Profile_Sub']);
      expect(profiles[0]).toMatchObject({ encoding: 'H264', width: 320, height: 240, ptz: true });
      expect(value(r.get('streamURI'))).toBe(`rtsp://127.0.0.1:${cam.rtspPort}/video_main`);
      expect(value(r.get('subStream'))).toBe(`rtsp://127.0.0.1:${cam.rtspPort}/video_sub`);
      expect(value(r.get('streamReachable'))).toBe(true);
      expect(await drv.health()).toBe('online');
      // the stream the URI names plays over RTSP/TCP for an independent client
      const probe = await run(
        'ffprobe',
        [
          '-v',
          'error',
          '-rtsp_transport',
          'tcp',
          '-select_streams',
          'v:0',
          '-show_entries',
          'stream=codec_name,width,height',
          '-of',
          'json',
          String(value(r.get('streamURI'))),
        ],
        { timeout: 20_000 },
      );
      expect(JSON.parse(probe.stdout).streams[0]).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    });
  });

  it('publishes a snapshot that decodes as a JPEG of the camera size, and puts only its metadata on the twin', async () => {
    const d = cameraDevice([prop('snapshot', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} })]);
    await withDriver(d, async (drv, published) => {
      await drv.connect();
      const before = Date.now();
      const meta = JSON.parse(String(value((await drv.readBatch(d.properties)).get('snapshot'))));
      expect(published).toHaveLength(1);
      const jpeg = published[0]!;
      expect(jpeg.topic).toBe(mediaTopic(d.id, 'snapshot'));
      expect(meta).toMatchObject({ bytes: jpeg.payload.length, width: 320, height: 240, topic: jpeg.topic });
      expect(meta.time).toBeGreaterThanOrEqual(before);
      expect(String(value((await drv.readBatch(d.properties)).get('snapshot'))).length).toBeLessThan(300);
      const file = join(scratch, 'snap.jpg');
      writeFileSync(file, jpeg.payload);
      const probe = await run('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'stream=codec_name,width,height',
        '-of',
        'json',
        file,
      ]);
      expect(JSON.parse(probe.stdout).streams[0]).toEqual({ codec_name: 'mjpeg', width: 320, height: 240 });
    });
  });

  it('refuses a snapshot over maxBytes, naming the limit, and publishes nothing', async () => {
    const d = cameraDevice([prop('snapshot', { type: 'STRING', accessMode: 'ReadOnly', visitor: { maxBytes: 1024 } })]);
    await withDriver(d, async (drv, published) => {
      await drv.connect();
      const r = (await drv.readBatch(d.properties)).get('snapshot');
      expect(r?.ok).toBe(false);
      if (!r?.ok) expect(r?.error.message).toMatch(/1024 byte limit.*maxBytes/);
      expect(published).toHaveLength(0);
    });
  });

  it('moves PTZ and reads the position back; saves presets with the token the camera returns and goes to them', async () => {
    const d = cameraDevice([
      prop('pan', { type: 'DOUBLE', visitor: {} }),
      prop('zoom', { type: 'DOUBLE', visitor: {} }),
      prop('setPreset', { type: 'STRING', visitor: {} }),
      prop('preset', { type: 'STRING', visitor: {} }),
      prop('presets', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
    ]);
    const [pan, zoom, setPreset, preset] = d.properties as [
      (typeof d.properties)[0],
      (typeof d.properties)[0],
      (typeof d.properties)[0],
      (typeof d.properties)[0],
    ];
    await withDriver(d, async (drv) => {
      await drv.connect();
      await drv.write(pan, -0.4);
      await drv.write(zoom, 0.3);
      expect(await cam.ptz()).toMatchObject({ pan: -0.4, zoom: 0.3 });
      expect(value((await drv.readBatch([pan])).get('pan'))).toBe(-0.4);

      await drv.write(setPreset, 'gate');
      const saved = await cam.presets();
      const token = Object.keys(saved).find((t) => saved[t]?.name === 'gate');
      expect(token, 'ipycam stored the preset under its own token').toMatch(/^preset_/);
      expect(value((await drv.readBatch([setPreset])).get('setPreset'))).toBe('gate');

      await cam.setPtz({ pan: 0.9, zoom: 0 }); // someone turned the camera away
      expect(value((await drv.readBatch([preset])).get('preset'))).toBe('');
      await drv.write(preset, 'gate'); // by name: the driver uses the token SetPreset returned
      expect(await cam.ptz()).toMatchObject({ pan: -0.4, zoom: 0.3 });
      expect(value((await drv.readBatch([preset])).get('preset'))).toBe('gate');
      const list = JSON.parse(String(value((await drv.readBatch(d.properties)).get('presets'))));
      expect(list).toContainEqual({ token, name: 'gate', pan: -0.4, tilt: expect.any(Number), zoom: 0.3 });

      const err = await drv.write(preset, 'nowhere').catch((e: Error) => e);
      expect((err as Error).message).toMatch(/no preset "nowhere" \(presets: Home, gate\)/);
      const bad = await drv.write(pan, 3).catch((e: Error) => e);
      expect((bad as Error).message).toMatch(/pan: 3 is outside -1\.\.1/);
    });
  });

  it('moves relatively and continuously; command properties read back what was written (so writes verify once)', async () => {
    const d = cameraDevice([
      prop('ptzRelative', { type: 'STRING', visitor: {} }),
      prop('ptzMove', { type: 'STRING', visitor: {} }),
    ]);
    const [rel, move] = d.properties as [(typeof d.properties)[0], (typeof d.properties)[0]];
    await withDriver(d, async (drv) => {
      await drv.connect();
      await cam.setPtz({ pan: 0, tilt: 0, zoom: 0 });
      await drv.write(rel, '{"pan":0.25,"tilt":-0.125}');
      expect(await cam.ptz()).toMatchObject({ pan: 0.25, tilt: -0.125 });
      expect(value((await drv.readBatch([rel])).get('ptzRelative'))).toBe('{"pan":0.25,"tilt":-0.125}');
      await drv.write(move, '{"pan":0.5}');
      expect((await cam.ptz()).moving).toBe(true);
      await drv.write(move, 'stop');
      expect((await cam.ptz()).moving).toBe(false);
      expect(value((await drv.readBatch([move])).get('ptzMove'))).toBe('stop');
      const err = await drv.write(move, '{"pan":2}').catch((e: Error) => e);
      expect((err as Error).message).toMatch(/pan velocity 2 is outside -1\.\.1/);
    });
  });

  it('a wrong password is unhealthy with a clear error, and heals when the password file is fixed', async () => {
    const pw = join(scratch, 'wrong-password');
    writeFileSync(pw, 'not-the-password\n', { mode: 0o600 });
    const d = cameraDevice([prop('manufacturer', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} })], {
      password: pw,
    });
    await withDriver(d, async (drv) => {
      await drv.connect(); // reachable: connected, but refused
      expect(await drv.health()).toBe('unhealthy');
      const r = (await drv.readBatch(d.properties)).get('manufacturer');
      expect(r?.ok).toBe(false);
      if (!r?.ok) {
        expect(r?.error.code).toBe('config');
        expect(r?.error.message).toContain(`refused the credentials of user "admin"`);
        expect(r?.error.message).toContain(pw);
      }
      writeFileSync(pw, `${readPasswordFile(cam.passwordFile)}\n`);
      expect(value((await drv.readBatch(d.properties)).get('manufacturer'))).toBe('edgetwin-test');
      expect(await drv.health()).toBe('online');
    });
  });

  it('drops exactly one trailing newline of the password file, as KubeEdge does', () => {
    const f = join(scratch, 'pw');
    writeFileSync(f, 'a b \n\n');
    expect(readPasswordFile(f)).toBe('a b \n');
    writeFileSync(f, 'secret\r\n');
    expect(readPasswordFile(f)).toBe('secret');
    writeFileSync(f, 'secret');
    expect(readPasswordFile(f)).toBe('secret');
  });
});

// A manifest in the shape of KubeEdge's v1.17 onvif-mapper sample (its keys, nanosecond cycles, connection
// keys repeated in each visitor), written here, pointing at the emulated camera.
function kubeedgeShaped(
  address: string,
  passwordFile: string,
  outputDir: string,
): { device: Device; model: DeviceModel } {
  const docs = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: onvif-model, namespace: default }
spec:
  protocol: onvif
  properties:
    - { name: getURI, description: rtsp uri of the camera, type: STRING, accessMode: ReadOnly }
    - { name: saveFrame, description: frames into a folder, type: STREAM, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: onvif-device-01, namespace: default }
spec:
  deviceModelRef: { name: onvif-model }
  nodeName: edge-node
  protocol:
    protocolName: onvif
    configData: { url: "${address}", userName: admin, password: ${passwordFile} }
  properties:
    - name: getURI
      visitors:
        protocolName: onvif
        configData: { url: "${address}", userName: admin, password: ${passwordFile}, dataType: string }
      reportCycle: 10000000000
      collectCycle: 1000000000
      reportToCloud: true
    - name: saveFrame
      visitors:
        protocolName: onvif
        configData: { format: jpg, outputDir: ${outputDir}, frameCount: 2, frameInterval: 1000000, dataType: stream }
`;
  const [model, dev] = docs.split('---').map((t) => parse(t)) as [DeviceModel, Device];
  return { device: dev, model };
}

describe('a KubeEdge v1.17 onvif sample, unchanged, in the whole mapper', () => {
  it('validates, reports the stream URI on the twin and saves frames with ffmpeg', async () => {
    const out = join(scratch, 'frames');
    const { device: dev, model } = kubeedgeShaped(cam.address, cam.passwordFile, out);
    const resolved = resolveDevice(dev, model);
    expect(configErrors(onvifDriverFactory.validate(resolved))).toEqual([]);
    const d = { ...resolved, nodeName: 'edge-node-1' };
    const rig = await startRig(onvifDriverFactory);
    try {
      const twin = await collectReports(rig.app, d.id);
      const state = await collectStates(rig.app, d.id);
      await rig.publish(d);
      const uri = `rtsp://127.0.0.1:${cam.rtspPort}/video_main`;
      await twin.waitFor((m) => (m.json() as TwinUpdate).twin.getURI?.actual.value === uri, 15_000);
      await state.waitFor((m) => (m.json() as { state: string }).state === 'online', 15_000);
      const done = (m: { json(): unknown }) => {
        const v = (m.json() as TwinUpdate).twin.saveFrame?.actual.value;
        return v !== undefined && JSON.parse(v).state === 'done';
      };
      const msgs = await twin.waitFor(done, 60_000);
      const status = JSON.parse((msgs.find(done)!.json() as TwinUpdate).twin.saveFrame!.actual.value);
      expect(status.files).toBe(2);
      const { stdout } = await run('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'stream=width,height',
        '-of',
        'csv=p=0',
        status.lastFile,
      ]);
      expect(stdout.trim()).toBe('320,240');

      // the camera goes away and comes back: offline, then online with the stream URI reported again
      const seen = twin.messages.length;
      await cam.down();
      await state.waitFor((m) => (m.json() as { state: string }).state === 'offline', 15_000);
      const offlineAt = state.messages.length;
      await cam.up();
      await state.waitFor(
        (m) => state.messages.indexOf(m) >= offlineAt && (m.json() as { state: string }).state === 'online',
        20_000,
      );
      await twin.waitFor(
        (m) => twin.messages.indexOf(m) >= seen && (m.json() as TwinUpdate).twin.getURI?.actual.value === uri,
        20_000,
      );
    } finally {
      await rig.close();
    }
  });
});
