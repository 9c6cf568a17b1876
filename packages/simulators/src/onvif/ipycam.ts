// Starts and stops the emulated ONVIF camera (issue 13): packages/simulators/python/onvif_camera.py runs
// ipycam 1.3.0 (scripts/test-peers/python/ipycam.txt) on loopback with WS-Discovery replaced, fed generated
// frames, RTSP through Debian's ffmpeg. Waits on the program's ready line, never on time; talks to it over
// JSON lines on stdin/stdout. The password goes in a file (0600), never on the command line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../peers.js';
import { type PythonPeer, startPythonPeer } from '../python-peer.js';

export interface PtzState {
  pan: number;
  tilt: number;
  zoom: number;
  moving: boolean;
}

export interface EmulatedCamera {
  /** host:port of the ONVIF device service, KubeEdge's `url` form */
  address: string;
  onvifPort: number;
  rtspPort: number;
  /** UDP port answering a unicast WS-Discovery Probe (ipycam's own answer) */
  discoveryPort: number;
  deviceUrl: string;
  width: number;
  height: number;
  userName: string;
  /** a file holding the password followed by one newline, as a mounted Kubernetes Secret often is */
  passwordFile: string;
  ptz(): Promise<PtzState>;
  setPtz(p: Partial<Pick<PtzState, 'pan' | 'tilt' | 'zoom'>>): Promise<PtzState>;
  presets(): Promise<Record<string, { name: string; pan: number; tilt: number; zoom: number }>>;
  /** frames fed to the camera so far */
  frames(): Promise<number>;
  /** the camera goes away (its ports refuse) / comes back on the same ports */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmulatedCameraOptions {
  userName?: string;
  password?: string;
  width?: number;
  height?: number;
  fps?: number;
  onvifPort?: number;
  rtspPort?: number;
  readyTimeoutMs?: number;
}

const SCRIPT = resolve(repoRoot, 'packages/simulators/python/onvif_camera.py');

export async function startEmulatedCamera(opts: EmulatedCameraOptions = {}): Promise<EmulatedCamera> {
  const userName = opts.userName ?? 'admin';
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-ipycam-'));
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${opts.password ?? 'cam-secret'}\n`, { mode: 0o600 });
  const args = [SCRIPT, '--user', userName, '--password-file', passwordFile];
  for (const [flag, v] of [
    ['--width', opts.width],
    ['--height', opts.height],
    ['--fps', opts.fps],
    ['--onvif-port', opts.onvifPort],
    ['--rtsp-port', opts.rtspPort],
  ] as const)
    if (v !== undefined) args.push(flag, String(v));
  type Ready = {
    onvifPort: number;
    rtspPort: number;
    discoveryPort: number;
    onvifUrl: string;
    width: number;
    height: number;
  };
  let peer: PythonPeer<Ready>;
  try {
    peer = await startPythonPeer<Ready>('emulated camera', args, {
      cwd: dir,
      readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const { call } = peer;
  const info = peer.ready;
  const stop = async () => {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    address: `127.0.0.1:${info.onvifPort}`,
    onvifPort: info.onvifPort,
    rtspPort: info.rtspPort,
    discoveryPort: info.discoveryPort,
    deviceUrl: info.onvifUrl,
    width: info.width,
    height: info.height,
    userName,
    passwordFile,
    ptz: async () => (await call({ cmd: 'ptz-get' })) as PtzState,
    setPtz: async (p) => (await call({ cmd: 'ptz-set', ...p })) as PtzState,
    presets: async () => (await call({ cmd: 'presets' })) as Awaited<ReturnType<EmulatedCamera['presets']>>,
    frames: async () => Number(await call({ cmd: 'frames' })),
    down: async () => {
      await call({ cmd: 'down' });
    },
    up: async () => {
      await call({ cmd: 'up' });
    },
    stop,
  };
}
