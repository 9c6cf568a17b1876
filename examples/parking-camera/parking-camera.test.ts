// The parking-lot camera example (issue 13): its manifests on a real edge stack (broker, twin, the ONVIF
// mapper) against our emulated camera, the camera's motion event reaching the twin, and the app publishing
// one entrance view with the motion and the parking app's free count.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { type OnvifServer, startOnvifServer } from '@edgetwin/simulators/onvif/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freeCountTopic } from '../parking/lot.js';
import { type EdgeStack, NODE, startEdgeStack } from '../shared/testing/edge-stack.js';
import { type EntranceView, entranceTopic, startApp } from './app.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));

describe('parking-lot camera example', () => {
  let dir: string;
  let cam: OnvifServer;
  let stack: EdgeStack;
  let app: { stop(): Promise<void> } | undefined;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-parking-camera-'));
    const pw = join(dir, 'camera.password');
    writeFileSync(pw, 'gate-secret\n', { mode: 0o600 });
    cam = await startOnvifServer({ password: 'gate-secret' });
    stack = await startEdgeStack({
      manifestsDir: MANIFESTS,
      protocol: 'onvif',
      adjust: (d) => ({
        ...d,
        spec: {
          ...d.spec,
          protocol: {
            protocolName: 'onvif',
            configData: { ...d.spec.protocol?.configData, url: cam.address, password: pw },
          },
        },
      }),
    });
  });
  afterEach(async () => {
    await app?.stop();
    await stack?.stop();
    await cam?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the camera’s motion and the free count on one entrance view', async () => {
    const display = await connectBus({ url: stack.broker.url, clientId: 'display' });
    try {
      const view = await collectMessages(display, entranceTopic('lot-a'));
      const twin = await collectMessages(display, deviceTopic('default/parking-camera-01', 'twin/update/document'));
      const subscribed = once(cam.events, 'subscribed');
      app = await startApp({ brokerUrl: stack.broker.url, node: NODE });
      await subscribed; // the mapper's PullPoint subscription is live
      await display.publish(
        freeCountTopic('lot-a'),
        JSON.stringify({ lot: 'lot-a', free: 3, total: 4, occupied: 1, unknown: 0, timestamp: 1 }),
        { qos: 1, retain: true },
      );
      cam.setMotion(true);
      const v = (m: { json(): unknown }) => m.json() as EntranceView;
      const msgs = await view.waitFor((m) => v(m).motion === true && v(m).free === 3, 10_000);
      expect(v(msgs.find((m) => v(m).motion === true && v(m).free === 3)!)).toMatchObject({ lot: 'lot-a', total: 4 });
      // the twin itself carries the event, as any KubeEdge app sees it
      await twin.waitFor((m) => JSON.stringify(m.json()).includes('"motion"'));
      cam.setMotion(false);
      await view.waitFor((m) => v(m).motion === false && v(m).free === 3, 10_000);
    } finally {
      await display.close();
    }
  });
});
