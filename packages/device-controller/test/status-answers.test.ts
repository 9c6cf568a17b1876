// Issue 15, target 5: `twin set` -> the cloud shows the reported value, without waiting for the status
// coalescer's budget. The reported value that answers a cloud command is written at once, and the cloud link
// merges a node's next batch while a device of the previous one waits for its write budget.
import { join } from 'node:path';
import { cloudTopics, type Device, type OutboxEntry, type ReportAck, type ReportBatch } from '@edgetwin/api';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCloudLink } from '../src/cloud-link/index.js';
import { ControllerMetrics } from '../src/metrics.js';
import { EmbeddedStore } from '../src/sources/embedded/store.js';
import { StatusCoalescer } from '../src/status/coalescer.js';
import { FakeDesired } from './cloud-link-support.js';
import { device, model, tempDir, twinReport, waitFor } from './support.js';

/** A device whose `temp` has a desired value set at `timestamp` (what POST .../desired stores). */
function withDesired(name: string, value: string, timestamp: string): Device {
  const d = device(name, 'n1', 'thermo', ['temp']);
  d.spec.properties = [{ name: 'temp', desired: { value, metadata: { timestamp, type: 'float' } } }];
  return d;
}

const reported = (store: EmbeddedStore, name: string) =>
  store.device('default', name)?.status?.twins?.find((t) => t.propertyName === 'temp')?.reported?.value;

/** Resolves to 'held back' if `p` has not settled within ms (the budget here is a minute). */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => 'written'), new Promise((r) => setTimeout(() => r('held back'), ms))]);

describe('status: the answer to a cloud command is not held back (issue 15, target 5)', () => {
  let store: EmbeddedStore;
  let sink: StatusCoalescer | undefined;
  let cleanup: () => void;
  const closers: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = new EmbeddedStore({ path: join(t.dir, 'c.db') });
    store.apply([model('thermo'), device('a', 'n1', 'thermo'), device('b', 'n1', 'thermo')]);
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    sink?.stop();
    store.close();
    cleanup();
  });

  it('writes the reported value equal to a new desired value at once, though the device spent its budget; once per desired value', async () => {
    const metrics = new ControllerMetrics();
    // one write a minute after a burst of one: without the exception the answer waits a minute
    sink = new StatusCoalescer(store, { statusIntervalMs: 60_000, statusBurst: 1, metrics });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '1')]);
    // a background reading spends nothing more: it waits for the next token
    const background = sink.applyReports('n1', [twinReport('default/a', 'temp', '2')]);
    expect(await within(background, 300)).toBe('held back');
    // the user sets 42; the device reports 42
    store.apply([withDesired('a', '42', '1000')]);
    const answer = sink.applyReports('n1', [twinReport('default/a', 'temp', '42')]);
    expect(await within(answer, 3000)).toBe('written');
    expect(reported(store, 'a')).toBe('42');
    await background; // carried by the same write
    expect(await metrics.registry.metrics()).toMatch(/status_writes_answering_total 1\b/);
    // the device drifts and comes back to 42: the same desired value was answered already, so it waits
    sink.applyReports('n1', [twinReport('default/a', 'temp', '41')]).catch(() => undefined);
    const again = sink.applyReports('n1', [twinReport('default/a', 'temp', '42')]);
    expect(await within(again, 300)).toBe('held back');
    // the same value set again is a new command (a new timestamp): answered at once
    store.apply([withDesired('a', '42', '2000')]);
    const reassert = sink.applyReports('n1', [twinReport('default/a', 'temp', '42', Date.now() + 1)]);
    expect(await within(reassert, 3000)).toBe('written');
  }, 15_000);

  it('the cloud link merges the next batch while a device of the one before waits for its budget, and acknowledges in order', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 60_000, statusBurst: 1 });
    const s = sink;
    closers.push(() => s.stop());
    const link = await startCloudLink({
      desired: new FakeDesired(),
      status: sink,
      broker: { embedded: { port: 0 } },
      insecureAllowAnyNode: true,
    });
    closers.push(() => link.close());
    const c = await mqtt.connectAsync(link.url, { clientId: 'test-n1', username: 'n1', reconnectPeriod: 0 });
    closers.push(() => c.endAsync(true));
    const acks: ReportAck[] = [];
    c.on('message', (_t, p) => acks.push(JSON.parse(p.toString()) as ReportAck));
    await c.subscribeAsync(cloudTopics.acks('n1'), { qos: 1 });
    const send = (entries: OutboxEntry[], after: number) =>
      c.publishAsync(cloudTopics.reports('n1'), JSON.stringify({ node: 'n1', entries, after } satisfies ReportBatch), {
        qos: 1,
      });
    const e = (seq: number, id: string, v: string): OutboxEntry => ({ ...twinReport(id, 'temp', v), seq });

    await send([e(1, 'default/a', '1')], 0);
    await waitFor(() => acks.some((a) => a.upTo === 1), 'ack 1');
    // a's budget is spent: seq 2 waits a minute for its write; b's report in the next batch must not
    await send([e(2, 'default/a', '2')], 1);
    await send([e(3, 'default/b', '7')], 2);
    await waitFor(() => reported(store, 'b') === '7', "b's report stored while a waits", 5000);
    expect(reported(store, 'a')).toBe('1');
    // nothing is acknowledged past what is durable: seq 2 is not, so neither is 3
    expect(Math.max(...acks.map((a) => a.upTo))).toBe(1);
    // the answer to a command on a is written at once, and then everything is acknowledged
    store.apply([withDesired('a', '42', '1000')]);
    await send([e(4, 'default/a', '42')], 3);
    await waitFor(() => acks.some((a) => a.upTo === 4), 'ack 4', 5000);
    expect(reported(store, 'a')).toBe('42');
  }, 15_000);
});
