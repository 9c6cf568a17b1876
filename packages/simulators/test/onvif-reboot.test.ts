// Our ONVIF camera simulator (issue 13, ONVIF Core §8.3.1 SystemReboot) rebooted again while it is still
// rebooting: a client whose reply was lost retries, and two SystemReboot requests can both be answered
// before the camera goes away. A camera reboots once and comes back; the simulator used to run two reboots
// side by side, and the second one's listen failed with EADDRINUSE (an unhandled rejection that failed the
// whole test run, seen in CI under load) or closed the camera again just after it came back.
import { once } from 'node:events';
import { OnvifCamera } from '@edgetwin/mappers/drivers/onvif/camera';
import { afterEach, describe, expect, it } from 'vitest';
import { type OnvifServer, startOnvifServer } from '../src/onvif/server.js';

let sim: OnvifServer | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('ONVIF simulator SystemReboot', () => {
  it('reboots once and comes back when rebooted again while a reboot is under way', async () => {
    sim = await startOnvifServer({ password: 'p', rebootMs: 200 });
    const camera = new OnvifCamera(sim.deviceUrl, () => ({ userName: 'admin', password: 'p' }), 2000);
    const failures: unknown[] = [];
    const onRejection = (e: unknown) => failures.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const rebooted = once(sim.events, 'rebooted');
      // both answered before the camera goes away (it replies first, then reboots)
      await Promise.all([camera.systemReboot(), camera.systemReboot()]);
      await rebooted;
      // back on the same port and answering, and the answer to the second request did not fail it
      expect((await camera.getDeviceInformation()).model).toBe('onvif-sim');
      expect(sim.reboots(), 'both requests answered').toBe(2);
      expect(failures).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
