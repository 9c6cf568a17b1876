// The driver conformance suite for ONVIF (issue 13) against the emulated camera: ipycam 1.3.0 on loopback
// (packages/simulators/src/onvif/ipycam.ts), WS-UsernameToken digest auth with a password file. One camera
// serves the whole file (it takes a second or two to start); PTZ is what the suite writes and the world
// pokes, the fault is the camera going away and coming back on its ports.
import { type EmulatedCamera, startEmulatedCamera } from '@edgetwin/simulators/onvif/ipycam';
import { afterAll } from 'vitest';
import { runDriverConformance } from '../src/conformance/index.js';
import { onvifDriverFactory } from '../src/drivers/onvif/index.js';
import { device, prop } from './runtime-helpers.js';

let camera: Promise<EmulatedCamera> | undefined;
const theCamera = () => {
  camera ??= startEmulatedCamera();
  return camera;
};
afterAll(async () => {
  await (await camera)?.stop();
});

runDriverConformance(
  'onvif',
  async () => {
    const cam = await theCamera();
    const dev = device(
      'onvif',
      [
        prop('pan', { type: 'DOUBLE', visitor: {} }),
        prop('tilt', { type: 'DOUBLE', visitor: {} }),
        prop('zoom', { type: 'DOUBLE', visitor: {} }),
        prop('manufacturer', { type: 'STRING', accessMode: 'ReadOnly', visitor: {} }),
        prop('getURI', { type: 'STRING', accessMode: 'ReadOnly', visitor: { dataType: 'string' } }),
      ],
      { protocolConfig: { url: cam.address, userName: cam.userName, password: cam.passwordFile, timeout: 2000 } },
    );
    return {
      factory: onvifDriverFactory,
      device: dev,
      peek: async (name) => {
        if (name === 'manufacturer') return 'edgetwin-test';
        if (name === 'getURI') return `rtsp://127.0.0.1:${cam.rtspPort}/video_main`;
        return (await cam.ptz())[name as 'pan' | 'tilt' | 'zoom'];
      },
      poke: async (name, v) => {
        await cam.setPtz({ [name]: v as number });
      },
      fault: async (kind) => (kind === 'unreachable' ? cam.down() : cam.up()),
      teardown: async () => undefined,
      writeSamples: { pan: 0.25, tilt: -0.5, zoom: 0.75 },
      badWrites: { pan: 'left', tilt: 'up', zoom: 'far' },
    };
  },
  { callTimeoutMs: 8000 },
);
