import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PropertyState } from '../shared/device-watch.js';
import { type FakeTwin, startFakeTwin } from '../shared/testing/fake-twin.js';
import { captureLogs } from '../shared/testing/log-capture.js';
import { DEFAULT_DEVICE, describePower, startApp } from './app.js';

describe('LED status line', () => {
  it('says what the LED is and what it is switching to', () => {
    expect(describePower({ expected: 'ON', actual: 'ON' })).toBe('ON');
    expect(describePower({ expected: 'ON', actual: 'OFF' })).toBe('OFF, switching to ON');
    expect(describePower({ expected: 'ON' })).toBe('unknown, switching to ON');
  });
});

describe('LED app against a real broker', () => {
  let broker: EmbeddedBroker;
  let client: BusClient;
  let twin: FakeTwin | undefined;
  let app: { stop(): Promise<void> } | undefined;

  beforeEach(async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'test-led' });
  });

  afterEach(async () => {
    await app?.stop();
    await twin?.stop();
    await client.close();
    await broker.close();
    app = undefined;
    twin = undefined;
  });

  it('follows power-status from the twin: the cloud asks, the pin reports', async () => {
    twin = await startFakeTwin(client, DEFAULT_DEVICE, { 'power-status': { expected: 'OFF', actual: 'OFF' } });
    const seen: PropertyState[] = [];
    const logs = captureLogs();
    app = await startApp({
      brokerUrl: broker.url,
      node: 'edge-node-1',
      logger: logs.logger,
      onPowerStatus: (s) => seen.push({ ...s }),
    });
    await logs.waitFor('LED OFF');
    await twin.desire({ 'power-status': 'ON' });
    await logs.waitFor('LED OFF, switching to ON');
    await twin.report({ 'power-status': 'ON' });
    const line = await logs.waitFor('LED ON');
    expect(line).toMatchObject({ desired: 'ON', reported: 'ON', device: DEFAULT_DEVICE });
    expect(seen).toEqual([
      { expected: 'OFF', actual: 'OFF' },
      { expected: 'ON', actual: 'OFF' },
      { expected: 'ON', actual: 'ON' },
    ]);
  });
});
