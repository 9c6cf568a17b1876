import { PassThrough } from 'node:stream';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderDevice } from './terminal-render.js';
import { startTerminalView } from './terminal-view.js';
import { type FakeTwin, startFakeTwin } from './testing/fake-twin.js';

const ID = 'default/traffic-light-01';

/** A stream that collects what is written and lets a test wait for text to appear. */
function screen(isTTY: boolean) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  let text = '';
  const waiters = new Set<() => void>();
  stream.on('data', (d: Buffer) => {
    text += d.toString('utf8');
    for (const w of [...waiters]) w();
  });
  return {
    stream,
    text: () => text,
    waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<void> {
      const shows = () => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
      if (shows()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!shows()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`screen never showed ${pattern}; it shows:\n${JSON.stringify(text)}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
  };
}

describe('rendering a device line', () => {
  it('draws lamps as coloured dots and other properties as name=value', () => {
    const line = renderDevice(
      ID,
      { green: { actual: 'OFF' }, red: { actual: 'ON', expected: 'ON' }, mode: { actual: 'auto' } },
      { color: true, order: ['red', 'yellow', 'green'] },
    );
    expect(line).toBe(`${ID}  \x1b[31m●\x1b[0m red  \x1b[2m○\x1b[0m green  mode=auto`);
  });

  it('shows a desired value not yet reported after an arrow, in plain text without ANSI codes', () => {
    const line = renderDevice(ID, { red: { actual: 'OFF', expected: 'ON' } }, { color: false });
    expect(line).toBe(`${ID}  red=OFF→ON`);
    expect(renderDevice(ID, {}, { color: false })).toBe(`${ID}  (waiting for the twin)`);
    // asked for but never reported: not shown as lit
    expect(renderDevice(ID, { red: { expected: 'ON' } }, { color: true })).toBe(`${ID}  red=?→ON`);
  });
});

describe('terminal view against a real broker', () => {
  let broker: EmbeddedBroker;
  let client: BusClient;
  let twin: FakeTwin | undefined;
  let view: { stop(): Promise<void> } | undefined;

  beforeEach(async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'test-view' });
  });

  afterEach(async () => {
    await view?.stop();
    await twin?.stop();
    await client.close();
    await broker.close();
    view = undefined;
    twin = undefined;
  });

  it('prints one plain line per change when the output is not a terminal', async () => {
    twin = await startFakeTwin(client, ID, {
      red: { actual: 'ON' },
      yellow: { actual: 'OFF' },
      green: { actual: 'OFF' },
    });
    const out = screen(false);
    view = await startTerminalView({
      brokerUrl: broker.url,
      devices: [ID],
      out: out.stream,
      order: ['red', 'yellow', 'green'],
    });
    await out.waitFor('default/traffic-light-01  red=ON  yellow=OFF  green=OFF\n');
    await twin.report({ red: 'OFF', green: 'ON' });
    await out.waitFor('red=OFF  yellow=OFF  green=ON\n');
    expect(out.text()).not.toContain('\x1b[');
    expect(out.text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} default\/traffic-light-01/m);
  });

  it('redraws the lines in place on a terminal', async () => {
    twin = await startFakeTwin(client, ID, {
      red: { actual: 'OFF' },
      yellow: { actual: 'OFF' },
      green: { actual: 'ON' },
    });
    const out = screen(true);
    view = await startTerminalView({
      brokerUrl: broker.url,
      devices: [ID],
      out: out.stream,
      order: ['red', 'yellow', 'green'],
    });
    await out.waitFor('\x1b[32m●\x1b[0m green');
    await twin.report({ green: 'OFF', yellow: 'ON' });
    await out.waitFor('\x1b[33m●\x1b[0m yellow');
    // every redraw after the first moves the cursor back up over the device's one line
    expect(out.text()).toContain('\x1b[1A');
  });
});
