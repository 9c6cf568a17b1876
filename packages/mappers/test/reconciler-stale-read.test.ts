// The write reconciler re-applies a verified value when the device drifts (reconciler.ts), but a reading that was
// sent before the value was verified may carry the value from before the write: it is no drift. Found as a camera rebooted
// twice (onvif-server.test.ts): a read cycle's batch under way while `reboot=true` was written came back after the
// verification with the old `false`, and the reboot was written again; and again under load with a batch sent
// while the SystemReboot call was still under way.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DeviceDriver, RawValue } from '../src/framework/driver.js';
import { DEFAULT_WRITE_RETRY, WriteReconciler } from '../src/framework/reconciler.js';
import { prop } from './runtime-helpers.js';

function rig(writeGate?: Promise<void>) {
  const p = prop('reboot', { type: 'BOOLEAN' });
  let held: RawValue = false;
  const writes: RawValue[] = [];
  const driver = {
    write: async (_p: unknown, v: RawValue) => {
      writes.push(v);
      await writeGate;
      held = v;
    },
    readBatch: async () => new Map([['reboot', { ok: true as const, value: held, timestamp: Date.now() }]]),
  } as unknown as DeviceDriver;
  let verified: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    verified = r;
  });
  const r = new WriteReconciler('reboot', {
    deviceId: 'default/cam',
    property: () => p,
    driver: () => driver,
    publish: () => undefined,
    onReadBack: () => undefined,
    onFinal: (s) => s === 'verified' && verified(),
    logger: pino({ level: 'silent' }),
    retry: DEFAULT_WRITE_RETRY,
    callTimeoutMs: 1000,
  });
  return { r, writes, done, drift: (v: RawValue) => (held = v) };
}

describe('write reconciler and readings older than the write', () => {
  it('ignores a reading sent before the write began, and re-applies on one sent after it', async () => {
    const { r, writes, done, drift } = rig();
    const sentBefore = performance.now();
    r.setDesired('true');
    await done;
    expect(writes).toEqual([true]);
    // the old value, from a read that was on its way while the write went out
    r.onReading('false', sentBefore);
    expect(writes).toEqual([true]);
    // the device really changed afterwards: a reading sent now re-applies the desired value
    drift(false);
    r.onReading('false', performance.now());
    await expect.poll(() => writes).toEqual([true, true]);
    r.stop();
  });

  it('ignores a reading sent while the write was still under way (the device did not hold the value yet)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const { r, writes, done } = rig(gate);
    r.setDesired('true');
    await expect.poll(() => writes).toEqual([true]);
    // a read cycle's batch sent now (the camera's SystemReboot call not answered yet) reads the old false,
    // and its answer arrives only after the verification
    const sentDuring = performance.now();
    release();
    await done;
    r.onReading('false', sentDuring);
    expect(writes, 'written once').toEqual([true]);
    r.stop();
  });
});
