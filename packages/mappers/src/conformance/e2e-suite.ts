// The end-to-end half of the conformance suite: the driver inside the whole framework (startMapper)
// with a real broker, driven only through the MQTT contract, as the twin drives it.

import {
  checkValue,
  decodeWriteStatus,
  deviceTopic,
  mapperDeviceTopic,
  type ResolvedProperty,
  type WriteStatus,
  writeStatusTopic,
} from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { collectMessages, type ReceivedMessage, startTestBroker } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawValue } from '../framework/driver.js';
import { type RunningMapper, startMapper } from '../framework/start-mapper.js';
import { toEngineering, toRaw, transformSpec } from '../framework/transforms.js';
import { otherValue } from './helpers.js';
import type { ConformanceOptions, ConformanceTarget } from './target.js';
import { collectReports, collectStates } from './report-collector.js';

type Broker = Awaited<ReturnType<typeof startTestBroker>>;

function engineering(p: ResolvedProperty, raw: RawValue): string {
  const spec = transformSpec(p);
  if (!spec.ok) throw new Error(spec.reason);
  const e = toEngineering(raw, p, spec.value);
  if (!e.ok) throw new Error(e.reason);
  return e.value;
}

function twinValues(messages: ReceivedMessage[]): Map<string, { value: string }> {
  const out = new Map<string, { value: string }>();
  for (const m of messages) {
    const twin = (m.json() as { twin: Record<string, { actual: { value: string } }> }).twin;
    for (const [k, v] of Object.entries(twin)) out.set(k, { value: v.actual.value });
  }
  return out;
}

/** A desired value the property's type refuses, or undefined if every string is acceptable. */
function wrongTypeDesired(p: ResolvedProperty): string | undefined {
  if (p.visitor.onValue !== undefined) return 'BLINK';
  if (p.type === 'INT' || p.type === 'FLOAT' || p.type === 'DOUBLE') return 'warm';
  if (p.type === 'BOOLEAN') return 'maybe';
  return undefined;
}

export function endToEndSuite(
  name: string,
  setup: () => Promise<ConformanceTarget>,
  options: ConformanceOptions,
): void {
  const timeoutMs = Math.max(5000, options.callTimeoutMs ?? 0);
  describe(`${name} mapper end to end (MapperRuntime + broker)`, () => {
    let t: ConformanceTarget;
    let broker: Broker;
    let app: BusClient;
    let mapper: RunningMapper;
    let node: string;

    beforeEach(async () => {
      t = await setup();
      node = t.device.nodeName || 'conformance-node';
      broker = await startTestBroker();
      app = await connectBus({ url: broker.url, clientId: `conformance-app-${process.pid}` });
      mapper = await startMapper({
        factory: t.factory,
        brokerUrl: broker.url,
        node,
        logger: pino({ level: 'silent' }),
        worker: {
          connectBackoffMs: 50,
          maxConnectBackoffMs: 200,
          writeRetry: { maxAttempts: 3, baseMs: 20, maxMs: 100 },
        },
      });
    });
    afterEach(async () => {
      await mapper?.stop();
      await app?.close();
      await broker?.close();
      await t?.teardown();
    });

    const publishDevice = () =>
      app.publish(mapperDeviceTopic(node, t.factory.protocol, t.device.id), JSON.stringify(t.device), {
        qos: 1,
        retain: true,
      });
    const reported = () => t.device.properties.filter((p) => p.reportToCloud);
    const volatile = (p: string) => t.volatile?.includes(p) ?? false;
    const writable = () => t.device.properties.filter((p) => p.accessMode === 'ReadWrite' && !volatile(p.name));
    const statuses = async () => {
      const c = await collectMessages(app, writeStatusTopic(t.device.id));
      const decoded = () =>
        c.messages.map((m) => {
          const d = decodeWriteStatus(m.payload);
          if (!d.ok) throw new Error(`bad write status on ${m.topic}: ${d.error}`);
          return d.value;
        });
      return {
        until: async (pred: (s: WriteStatus) => boolean) => {
          await c.waitFor((m) => {
            const d = decodeWriteStatus(m.payload);
            return d.ok && pred(d.value);
          }, timeoutMs);
          return decoded();
        },
        stop: () => c.stop(),
      };
    };
    const delta = (values: Record<string, string>) =>
      app.publish(
        deviceTopic(t.device.id, 'twin/update/delta'),
        JSON.stringify({ event_id: 'conformance', timestamp: Date.now(), twin: {}, delta: values }),
        { qos: 1 },
      );

    it('reports every property on the report channel, valid for its type, once the device spec is published', async () => {
      const updates = await collectReports(app, t.device.id);
      await publishDevice();
      const want = reported()
        .map((p) => p.name)
        .sort();
      await updates.waitFor(() => [...twinValues(updates.messages).keys()].length >= want.length, timeoutMs);
      const got = twinValues(updates.messages);
      expect([...got.keys()].sort()).toEqual(want);
      for (const p of reported()) {
        // no type travels with a reading (the twin knows the model): the value must be one the twin takes
        expect(checkValue({ type: p.type }, got.get(p.name)?.value ?? '').ok, p.name).toBe(true);
        if (!volatile(p.name)) expect(got.get(p.name)?.value, p.name).toBe(engineering(p, await t.peek(p.name)));
      }
      await updates.stop();
    });

    it('reports the device online (its state on the report channel)', async () => {
      const states = await collectStates(app, t.device.id);
      await publishDevice();
      await states.waitFor((m) => (m.json() as { state: string }).state === 'online', timeoutMs);
      await states.stop();
    });

    it('reports a value the physical world changed', async () => {
      const p = writable()[0]!;
      const updates = await collectReports(app, t.device.id);
      await publishDevice();
      await updates.waitFor(() => twinValues(updates.messages).has(p.name), timeoutMs);
      const next = t.writeSamples?.[p.name] ?? otherValue(await t.peek(p.name), p);
      await t.poke(p.name, next);
      const want = engineering(p, next);
      await updates.waitFor(() => twinValues(updates.messages).get(p.name)?.value === want, timeoutMs);
      await updates.stop();
    });

    it('applies a desired value from a delta: the device holds it and the write status is verified', async () => {
      const p = writable()[0]!;
      const spec = transformSpec(p);
      if (!spec.ok) throw new Error(spec.reason);
      const desired =
        t.desiredSamples?.[p.name] ?? engineering(p, t.writeSamples?.[p.name] ?? otherValue(await t.peek(p.name), p));
      const s = await statuses();
      const states = await collectStates(app, t.device.id);
      await publishDevice();
      await states.waitFor((m) => (m.json() as { state: string }).state === 'online', timeoutMs);
      await delta({ [p.name]: desired });
      const seen = await s.until((x) => x.property === p.name && x.desired === desired && x.state === 'verified');
      expect(seen.filter((x) => x.property === p.name).map((x) => x.state)).toContain('pending');
      const raw = toRaw(desired, p, spec.value);
      if (!raw.ok) throw new Error(raw.reason);
      expect(engineering(p, await t.peek(p.name))).toBe(engineering(p, raw.value));
      await s.stop();
      await states.stop();
    });

    it('refuses a desired value of the wrong type or for a ReadOnly property, with a reason naming the property', async () => {
      const s = await statuses();
      await publishDevice();
      const bad = t.device.properties.find((p) => p.accessMode === 'ReadWrite' && wrongTypeDesired(p) !== undefined);
      const ro = t.device.properties.find((p) => p.accessMode === 'ReadOnly');
      expect(bad ?? ro, 'the conformance device needs a typed or a ReadOnly property').toBeDefined();
      const before = bad ? await t.peek(bad.name) : undefined;
      if (bad) await delta({ [bad.name]: wrongTypeDesired(bad)! });
      if (ro) await delta({ [ro.name]: '1' });
      for (const p of [bad, ro]) {
        if (!p) continue;
        const seen = await s.until((x) => x.property === p.name && x.state === 'failed');
        const failed = seen.find((x) => x.property === p.name && x.state === 'failed')!;
        expect(failed.reason).toContain(p.name);
      }
      if (bad) expect(await t.peek(bad.name)).toEqual(before);
      await s.stop();
    });
  });
}
