// `edgetwin probe onvif` as a user runs it (issue 13), against the emulated camera (ipycam, which answers a
// unicast WS-Discovery Probe on a loopback port; nothing multicasts): the list, the list with the camera's
// identity when credentials are given, -o yaml manifests that validate, and usage errors.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatFinding, validateManifests } from '@edgetwin/api';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import { type EmulatedCamera, startEmulatedCamera } from '@edgetwin/simulators/onvif/ipycam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../bin/edgetwin.js', import.meta.url));
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [CLI, 'probe', 'onvif', ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe('edgetwin probe onvif --target', () => {
  let cam: EmulatedCamera;
  beforeAll(async () => {
    cam = await startEmulatedCamera();
  }, 40_000);
  afterAll(async () => {
    await cam?.stop();
  });
  const withUser = () => [
    '--target',
    `127.0.0.1:${cam.discoveryPort}`,
    '--user',
    'admin',
    '--password-file',
    cam.passwordFile,
  ];

  it('lists the camera that answers the unicast Probe', async () => {
    const r = await run('--target', `127.0.0.1:${cam.discoveryPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ADDRESS\s+NAME\s+MODEL\s+SERIAL\s+PROFILES\s+STREAM/);
    expect(r.stdout).toContain(`127.0.0.1:${cam.onvifPort}  Loopback Camera`);
  });

  it('with --user and --password-file adds identity, profiles and the stream URI', async () => {
    const r = await run(...withUser());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /edgetwin-test ipycam-loopback\s+EDGETWIN-0001\s+Profile_Main 320x240 ptz, Profile_Sub 160x120 ptz/,
    );
    expect(r.stdout).toContain(`rtsp://127.0.0.1:${cam.rtspPort}/video_main`);
  });

  it('-o yaml writes a DeviceModel and a Device that validate and point at the camera', async () => {
    const r = await run(...withUser(), '-o', 'yaml', '--name', 'lot-cam');
    expect(r.code).toBe(0);
    const v = validateManifests([{ file: 'cams.yaml', text: r.stdout }], { protocols: driverValidators });
    expect(v.findings.map(formatFinding)).toEqual([]);
    expect(r.stdout).toContain(`url: 127.0.0.1:${cam.onvifPort}`);
    expect(r.stdout).toContain(`password: ${cam.passwordFile}`);
    expect(r.stdout).toContain('name: lot-cam-1');
    expect(r.stdout).toContain('name: pan');
  });

  it('says when nothing answers, and refuses a password without a file', async () => {
    const quiet = await run('--target', '127.0.0.1:9', '--timeout', '300');
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('no ONVIF camera answered within 300 ms\n');
    const bad = await run('--target', '127.0.0.1', '--user', 'admin');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--user and --password-file go together/);
  });
});
