import { deviceTopic, type TwinUpdateMessage } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, nextMessage, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwinRequestError, watchDevice } from './device-watch.js';
import { type FakeTwin, startFakeTwin } from './testing/fake-twin.js';
import { captureLogs } from './testing/log-capture.js';

const ID = 'default/sensor-1';

describe('watchDevice: the KubeEdge twin topics for apps', () => {
  let broker: EmbeddedBroker;
  let client: BusClient;
  let twin: FakeTwin | undefined;

  beforeEach(async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'test-watch' });
  });

  afterEach(async () => {
    await twin?.stop();
    await client.close();
    await broker.close();
    twin = undefined;
  });

  it('refresh loads the full twin; report and setExpected publish twin/update', async () => {
    twin = await startFakeTwin(client, ID, { temperature: { expected: '20', actual: '19.5' } });
    const watch = await watchDevice(client, ID);
    try {
      await watch.refresh();
      expect(watch.snapshot()).toEqual({ temperature: { expected: '20', actual: '19.5' } });
      const sent = nextMessage(client, deviceTopic(ID, 'twin/update'));
      await watch.report({ temperature: '20.1' });
      const msg = (await sent).json() as TwinUpdateMessage;
      expect(msg.twin).toEqual({ temperature: { actual: { value: '20.1' } } });
      expect(typeof msg.event_id).toBe('string');
      expect(msg.timestamp).toBeGreaterThan(0);
    } finally {
      await watch.close();
    }
  });

  it('a twin that does not know the device: refresh rejects with the code and reason', async () => {
    twin = await startFakeTwin(client, ID, {}, { known: false });
    const watch = await watchDevice(client, ID);
    try {
      const err = await watch.refresh().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TwinRequestError);
      expect(err).toMatchObject({ device: ID, code: 404, message: expect.stringContaining(`device ${ID}`) });
    } finally {
      await watch.close();
    }
  });

  it('no twin at all: refresh names the device and the timeout', async () => {
    const watch = await watchDevice(client, ID);
    try {
      await expect(watch.refresh(200)).rejects.toThrow(`device ${ID}: no twin/get/result within 200 ms`);
    } finally {
      await watch.close();
    }
  });

  it('a malformed document is ignored with a warning, and the state it had is kept', async () => {
    twin = await startFakeTwin(client, ID, { temperature: { actual: '19.5' } });
    const logs = captureLogs();
    let reported21: () => void = () => {};
    const sawReport = new Promise<void>((resolve) => {
      reported21 = resolve;
    });
    const watch = await watchDevice(client, ID, {
      logger: logs.logger,
      onChange: (s) => s.temperature?.actual === '21' && reported21(),
    });
    try {
      await watch.refresh();
      await client.publish(deviceTopic(ID, 'twin/update/document'), 'not json');
      await client.publish(deviceTopic(ID, 'twin/update/document'), '{"twin":42}');
      await logs.waitFor('ignoring a twin document');
      expect(watch.snapshot()).toEqual({ temperature: { actual: '19.5' } });
      await twin.report({ temperature: '21' }); // a good document after the bad ones still lands
      await sawReport;
      expect(logs.lines.filter((l) => l.msg.includes('ignoring a twin document'))).toHaveLength(2);
    } finally {
      await watch.close();
    }
  });
});
