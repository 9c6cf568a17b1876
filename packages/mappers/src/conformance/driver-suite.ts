// The driver half of the conformance suite: the same tests for every protocol driver, run against the
// driver's simulator through the DeviceDriver interface only.

import { configErrors, type ResolvedProperty } from '@edgetwin/api';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DeviceDriver, DriverError, type RawValue, type ReadResult } from '../framework/driver.js';
import { badValue, otherValue, within } from './helpers.js';
import type { ConformanceOptions, ConformanceTarget } from './target.js';

export function driverSuite(name: string, setup: () => Promise<ConformanceTarget>, options: ConformanceOptions): void {
  const ms = options.callTimeoutMs ?? 5000;
  describe(`${name} driver`, () => {
    let t: ConformanceTarget;
    let driver: DeviceDriver;
    let abort: AbortController;

    beforeEach(async () => {
      t = await setup();
      abort = new AbortController();
      driver = t.factory.create(t.device, { logger: pino({ level: 'silent' }), signal: abort.signal });
    });
    afterEach(async () => {
      abort.abort();
      await driver?.disconnect().catch(() => undefined);
      await t?.fault?.('reachable').catch(() => undefined);
      await t?.teardown();
      await t?.factory.close?.();
    });

    const volatile = (p: string) => t.volatile?.includes(p) ?? false;
    const writable = () => t.device.properties.filter((p) => p.accessMode === 'ReadWrite' && !volatile(p.name));
    const readOne = async (p: ResolvedProperty): Promise<ReadResult> => {
      const r = (await within(ms, `readBatch(${p.name})`, driver.readBatch([p]))).get(p.name);
      if (!r) throw new Error(`readBatch returned no result for ${p.name}`);
      return r;
    };
    const expectValue = async (p: ResolvedProperty, want: RawValue) => {
      const r = await readOne(p);
      if (!r.ok) throw new Error(`read of ${p.name} failed: ${r.error.message}`);
      expect(r.value, `property ${p.name}`).toEqual(want);
    };

    it('accepts its own device in validate()', () => {
      expect(configErrors(t.factory.validate(t.device))).toEqual([]);
      expect(t.device.protocol).toBe(t.factory.protocol);
      expect(writable().length, 'the conformance device needs a ReadWrite property').toBeGreaterThan(0);
    });

    it('connects and reports itself online', async () => {
      await within(ms, 'connect()', driver.connect());
      expect(await within(ms, 'health()', driver.health())).toBe('online');
    });

    it('reads each property as the simulator holds it', async () => {
      await driver.connect();
      for (const p of t.device.properties) {
        const r = await readOne(p);
        expect(r.ok, `read of ${p.name}: ${r.ok ? '' : r.error.message}`).toBe(true);
        if (!r.ok) continue;
        const want = await t.peek(p.name);
        if (volatile(p.name)) expect(typeof r.value).toBe(typeof want);
        else expect(r.value, `property ${p.name}`).toEqual(want);
        expect(r.timestamp).toBeGreaterThan(0);
      }
    });

    it('reads all properties in one batch, one result each', async () => {
      await driver.connect();
      const results = await within(ms, 'readBatch(all)', driver.readBatch(t.device.properties));
      expect([...results.keys()].sort()).toEqual(t.device.properties.map((p) => p.name).sort());
      for (const p of t.device.properties) {
        const r = results.get(p.name)!;
        expect(r.ok, `read of ${p.name}: ${r.ok ? '' : r.error.message}`).toBe(true);
        if (r.ok && !volatile(p.name)) expect(r.value, `property ${p.name}`).toEqual(await t.peek(p.name));
      }
    });

    it('sees a value the physical world changed', async () => {
      await driver.connect();
      const p = t.device.properties.find((x) => !volatile(x.name))!;
      const next = t.writeSamples?.[p.name] ?? otherValue(await t.peek(p.name), p);
      await t.poke(p.name, next);
      await expectValue(p, next);
    });

    it('writes each ReadWrite property and reads the value back', async () => {
      await driver.connect();
      for (const p of writable()) {
        const v = t.writeSamples?.[p.name] ?? otherValue(await t.peek(p.name), p);
        await within(ms, `write(${p.name})`, driver.write(p, v));
        expect(await t.peek(p.name), `simulator value of ${p.name}`).toEqual(v);
        await expectValue(p, v);
      }
    });

    it('refuses to write a ReadOnly property', async () => {
      await driver.connect();
      const base = t.device.properties.find((p) => p.accessMode === 'ReadOnly') ?? writable()[0]!;
      const p: ResolvedProperty = { ...base, accessMode: 'ReadOnly' };
      const before = await t.peek(p.name);
      const v = t.writeSamples?.[p.name] ?? otherValue(before, p);
      const err = await within(ms, 'write(ReadOnly)', driver.write(p, v)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DriverError);
      expect((err as Error).message).toContain(p.name);
      if (!volatile(p.name)) expect(await t.peek(p.name)).toEqual(before);
    });

    it('refuses a value the property cannot hold, naming the property, and keeps the old value', async () => {
      await driver.connect();
      let tried = 0;
      for (const p of writable()) {
        const before = await t.peek(p.name);
        const bad = t.badWrites?.[p.name] ?? badValue(before);
        if (bad === undefined) continue;
        tried++;
        const err = await within(ms, `write(${p.name}, bad)`, driver.write(p, bad)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `writing ${JSON.stringify(bad)} to ${p.name}`).toBeInstanceOf(DriverError);
        expect((err as Error).message).toContain(p.name);
        expect(await t.peek(p.name)).toEqual(before);
      }
      expect(tried, 'give badWrites for string properties').toBeGreaterThan(0);
    });

    it('is offline after disconnect, and reads again after reconnecting', async () => {
      await driver.connect();
      await within(ms, 'disconnect()', driver.disconnect());
      expect(await within(ms, 'health()', driver.health())).not.toBe('online');
      const p = t.device.properties[0]!;
      const down = await within(ms, 'readBatch after disconnect', driver.readBatch([p])).then(
        (m) => m.get(p.name),
        (e: unknown) => ({ ok: false as const, error: e as DriverError }),
      );
      expect(down?.ok).toBe(false);
      await within(ms, 'connect() again', driver.connect());
      expect((await readOne(p)).ok).toBe(true);
      expect(await driver.health()).toBe('online');
    });

    const noFault = 'the target gives no fault() hook, so unreachable devices cannot be simulated';
    it('gives an error, not a hang, when the device is unreachable, and recovers', async (ctx) => {
      if (!t.fault) {
        console.warn(`${name}: skipping fault test: ${noFault}`);
        return ctx.skip(noFault);
      }
      await driver.connect();
      await t.fault('unreachable');
      const results = await within(ms, 'readBatch while unreachable', driver.readBatch(t.device.properties)).then(
        (m) => [...m.values()],
        (e: unknown) => [{ ok: false as const, error: e as DriverError }],
      );
      for (const r of results) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(DriverError);
      }
      const p = writable()[0]!;
      const werr = await within(
        ms,
        'write while unreachable',
        driver.write(p, otherValue(await t.peek(p.name), p)),
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(werr).toBeInstanceOf(DriverError);
      expect(await within(ms, 'health() while unreachable', driver.health())).not.toBe('online');
      await t.fault('reachable');
      await within(ms, 'connect() after the fault', driver.connect());
      expect((await readOne(p)).ok).toBe(true);
    });
  });
}
