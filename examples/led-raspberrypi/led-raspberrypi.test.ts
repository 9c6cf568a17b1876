import { fileURLToPath } from 'node:url';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, startTestBroker } from '@edgetwin/eventbus/testing';
import { simulatedChip } from '@edgetwin/mappers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PropertyState } from '../shared/device-watch.js';
import { type FakeTwin, startFakeTwin } from '../shared/testing/fake-twin.js';
import { captureLogs } from '../shared/testing/log-capture.js';
import { type EdgeStack, NODE, startEdgeStack } from '../shared/testing/edge-stack.js';
import { waitForPin } from '../shared/testing/pins.js';
import { DEFAULT_DEVICE, describePower, startApp } from './app.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));

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

describe('LED end to end: twin, GPIO mapper on the simulated chip, app', () => {
  let stack: EdgeStack | undefined;
  let app: { stop(): Promise<void> } | undefined;

  afterEach(async () => {
    await app?.stop();
    await stack?.stop();
    app = undefined;
    stack = undefined;
  });

  it('a desired power-status from the cloud reaches pin 18 and comes back as reported', async () => {
    stack = await startEdgeStack({ manifestsDir: MANIFESTS, protocol: 'gpio' });
    const chip = simulatedChip('gpiochip0');
    const seen: PropertyState[] = [];
    const reported = (value: string) =>
      new Promise<void>((resolve) => {
        const check = () => seen.some((s) => s.expected === value && s.actual === value) && resolve();
        checks.add(check);
        check();
      });
    const checks = new Set<() => void>();
    app = await startApp({
      brokerUrl: stack.broker.url,
      node: NODE,
      logger: captureLogs().logger,
      onPowerStatus: (s) => {
        seen.push({ ...s });
        for (const c of checks) c();
      },
    });
    await reported('OFF');
    expect(chip.level(18)).toBe(0);

    stack.cloudSet(DEFAULT_DEVICE, { 'power-status': 'ON' });
    await waitForPin(chip, 18, 1);
    await reported('ON');
    expect(stack.twin.getTwin(DEFAULT_DEVICE)?.twins['power-status']).toMatchObject({
      expected: { value: 'ON' },
      actual: { value: 'ON' },
    });

    stack.cloudSet(DEFAULT_DEVICE, { 'power-status': 'OFF' });
    await waitForPin(chip, 18, 0);
    await reported('OFF');
  });
});
