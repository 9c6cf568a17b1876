import { fileURLToPath } from 'node:url';
import { deviceTopic, type TwinUpdateMessage } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import {
  collectMessages,
  type EmbeddedBroker,
  type MessageCollector,
  startTestBroker,
} from '@edgetwin/eventbus/testing';
import { type SimulatedGpioChip, simulatedChip } from '@edgetwin/mappers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../shared/testing/log-capture.js';
import { type FakeTwin, startFakeTwin } from '../shared/testing/fake-twin.js';
import { type EdgeStack, NODE, startEdgeStack } from '../shared/testing/edge-stack.js';
import { waitForChip, waitForPin } from '../shared/testing/pins.js';
import { startApp } from './app.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));
import { COLOURS, lampsFor, nextColour, parseDurations, parseMode } from './cycle.js';

const ID = 'default/traffic-light-01';
const FAST = { red: 50, green: 50, yellow: 50 };

/** Which colour one twin/update from the app switches on; fails unless exactly one lamp is ON. */
function litColour(msg: TwinUpdateMessage): string {
  const on = COLOURS.filter((c) => msg.twin[c]?.expected?.value === 'ON');
  const off = COLOURS.filter((c) => msg.twin[c]?.expected?.value === 'OFF');
  expect(on.length, `exactly one lamp ON in ${JSON.stringify(msg.twin)}`).toBe(1);
  expect(off.length).toBe(2);
  return on[0]!;
}

/** The app's twin/updates that set a phase (all three lamps). */
const lampUpdates = (c: MessageCollector) =>
  c.messages.map((m) => m.json() as TwinUpdateMessage).filter((u) => COLOURS.every((k) => k in u.twin));
const lit = (c: MessageCollector) => lampUpdates(c).map(litColour);
const waitLamps = (c: MessageCollector, n: number) => c.waitFor(() => lampUpdates(c).length >= n);

/**
 * Absence can only be shown over a window: the window is several phase lengths, so a cycle that kept
 * running would publish several times in it.
 */
async function lampCountAfterWindow(c: MessageCollector, ms: number): Promise<number> {
  await new Promise((r) => setTimeout(r, ms));
  return lampUpdates(c).length;
}

describe('traffic-light cycle rules', () => {
  it('goes red, green, yellow, red with exactly one lamp lit', () => {
    expect(nextColour('red')).toBe('green');
    expect(nextColour('green')).toBe('yellow');
    expect(nextColour('yellow')).toBe('red');
    expect(lampsFor('yellow')).toEqual({ red: 'OFF', yellow: 'ON', green: 'OFF' });
  });

  it('reads phase durations and names a bad entry', () => {
    expect(parseDurations('red=1000, yellow=300')).toEqual({ red: 1000, green: 4000, yellow: 300 });
    expect(() => parseDurations('blue=100')).toThrow(/"blue=100" is not <red\|yellow\|green>=<milliseconds>/);
    expect(() => parseDurations('red=fast')).toThrow(/red=fast must be a whole number/);
    expect(() => parseDurations('green=0')).toThrow(/green=0/);
  });

  it('accepts only auto and manual as modes', () => {
    expect(parseMode('Manual')).toBe('manual');
    expect(parseMode(' auto ')).toBe('auto');
    expect(parseMode('blink')).toBeUndefined();
    expect(parseMode(undefined)).toBeUndefined();
  });
});

describe('traffic-light app against a real broker', () => {
  let broker: EmbeddedBroker;
  let client: BusClient;
  let twin: FakeTwin | undefined;
  let app: { stop(): Promise<void> } | undefined;
  let updates: MessageCollector;

  beforeEach(async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'test-traffic' });
    updates = await collectMessages(client, deviceTopic(ID, 'twin/update'));
  });

  afterEach(async () => {
    await app?.stop();
    await twin?.stop();
    await updates.stop();
    await client.close();
    await broker.close();
    app = undefined;
    twin = undefined;
  });

  const lamps = { red: { expected: 'OFF' }, yellow: { expected: 'OFF' }, green: { expected: 'OFF' } };

  it('cycles the lamps through twin/update: red, green, yellow, red', async () => {
    twin = await startFakeTwin(client, ID, { ...lamps, mode: { expected: 'auto' } });
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: captureLogs().logger, durations: FAST });
    await waitLamps(updates, 4);
    expect(lit(updates).slice(0, 4)).toEqual(['red', 'green', 'yellow', 'red']);
    // the twin holds what the app asked for: exactly one desired ON
    const on = COLOURS.filter((c) => twin!.state()[c]?.expected === 'ON');
    expect(on).toHaveLength(1);
  });

  it('stops cycling when the cloud sets mode=manual, and restarts at red on mode=auto', async () => {
    twin = await startFakeTwin(client, ID, { ...lamps, mode: { expected: 'auto' } });
    const logs = captureLogs();
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: logs.logger, durations: FAST });
    await waitLamps(updates, 2);

    // one cloud command: take over and show red
    await twin.desire({ mode: 'manual', red: 'ON' });
    await logs.waitFor('manual mode');
    const atManual = lampUpdates(updates).length;
    // at most one phase was in flight when the mode changed, then the app writes the cloud's light once
    expect(await lampCountAfterWindow(updates, 250)).toBeLessThanOrEqual(atManual + 2);
    expect(lit(updates).at(-1)).toBe('red');
    expect(twin.state()).toMatchObject({
      red: { expected: 'ON' },
      yellow: { expected: 'OFF' },
      green: { expected: 'OFF' },
    });

    // the cloud drives the lamps now; the app leaves them alone
    const beforeCloud = lampUpdates(updates).length;
    await twin.desire({ red: 'OFF', yellow: 'ON' });
    expect(await lampCountAfterWindow(updates, 150)).toBe(beforeCloud);
    expect(twin.state().yellow?.expected).toBe('ON');

    await twin.desire({ mode: 'auto' });
    await waitLamps(updates, beforeCloud + 1);
    expect(lit(updates)[beforeCloud]).toBe('red');
  });

  it('starts hands-off when the twin already says manual', async () => {
    twin = await startFakeTwin(client, ID, { ...lamps, mode: { expected: 'manual' } });
    const logs = captureLogs();
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: logs.logger, durations: FAST });
    await logs.waitFor('manual mode');
    expect(await lampCountAfterWindow(updates, 200)).toBe(0);
    await twin.desire({ mode: 'AUTO' });
    await waitLamps(updates, 1);
    expect(lit(updates)[0]).toBe('red');
  });

  it('ignores a mode it does not understand, says so, and keeps cycling', async () => {
    twin = await startFakeTwin(client, ID, { ...lamps, mode: { expected: 'auto' } });
    const logs = captureLogs();
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: logs.logger, durations: FAST });
    await waitLamps(updates, 1);
    await twin.desire({ mode: 'blinking' });
    const warn = await logs.waitFor('ignoring mode "blinking"');
    expect(warn.level).toBe(40);
    const n = lampUpdates(updates).length;
    await waitLamps(updates, n + 2);
  });

  it('waits for a twin that does not know the device yet, then starts', async () => {
    twin = await startFakeTwin(client, ID, { ...lamps }, { known: false });
    const logs = captureLogs();
    app = await startApp({
      brokerUrl: broker.url,
      node: 'edge-node-1',
      logger: logs.logger,
      durations: FAST,
      retryMs: 50,
    });
    const line = await logs.waitFor('twin not ready');
    expect(String(line.err)).toMatch(/404.*not found/);
    expect(updates.messages).toHaveLength(0);
    twin.setKnown(true);
    await waitLamps(updates, 1);
    expect(lit(updates)[0]).toBe('red');
  });
});

describe('traffic light end to end: twin, GPIO mapper on the simulated chip, app', () => {
  const PINS = { red: 26, yellow: 19, green: 13, mode: 6 } as const;
  let stack: EdgeStack | undefined;
  let app: { stop(): Promise<void> } | undefined;

  afterEach(async () => {
    await app?.stop();
    await stack?.stop();
    app = undefined;
    stack = undefined;
  });

  /** The colour whose pin is high, when exactly one lamp pin is high. */
  const litPin = (chip: SimulatedGpioChip) => {
    const high = COLOURS.filter((c) => chip.level(PINS[c]) === 1);
    return high.length === 1 ? high[0] : undefined;
  };

  it('the pins cycle red, green, yellow; mode=manual from the cloud hands the lamps to the cloud', async () => {
    stack = await startEdgeStack({ manifestsDir: MANIFESTS, protocol: 'gpio' });
    const chip = simulatedChip('gpiochip0');
    // the sequence of lit colours as the pins show them
    const shown: string[] = [];
    chip.on('change', () => {
      const c = litPin(chip);
      if (c && shown.at(-1) !== c) shown.push(c);
    });
    const logs = captureLogs();
    app = await startApp({
      brokerUrl: stack.broker.url,
      node: NODE,
      logger: logs.logger,
      durations: { red: 100, green: 100, yellow: 100 },
    });
    await waitForChip(chip, () => shown.length >= 4, 'four phases on the pins');
    // the cycle may be picked up mid-way; the order is what matters
    const start = shown.indexOf('red');
    expect(shown.slice(start, start + 4)).toEqual(['red', 'green', 'yellow', 'red'].slice(0, shown.length - start));

    // the cloud takes over and shows yellow
    stack.cloudSet(ID, { mode: 'manual', yellow: 'ON' });
    await waitForPin(chip, PINS.mode, 1); // the manual indicator lamp
    await logs.waitFor('manual mode');
    await waitForChip(chip, () => litPin(chip) === 'yellow', 'only the yellow lamp lit');
    const settled = shown.length;
    await new Promise((r) => setTimeout(r, 400)); // four phase lengths: a running cycle would show here
    expect(shown.length).toBe(settled);
    expect(litPin(chip)).toBe('yellow');
    expect(stack.twin.getTwin(ID)?.twins.mode?.actual?.value).toBe('manual');

    // back to auto: the cycle starts again at red
    stack.cloudSet(ID, { mode: 'auto' });
    await waitForPin(chip, PINS.mode, 0);
    await waitForChip(chip, () => shown.length >= settled + 2, 'the cycle running again');
    expect(shown[settled]).toBe('red');
  });
});
