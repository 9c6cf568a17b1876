// Write reconciliation for one property: a desired value is validated, written, read back, retried with
// backoff while the device disagrees, and re-applied if the device drifts later. Every step is
// published as a WriteStatus against the desired value it answers, so "not yet" differs from "refused".

import { type ResolvedProperty, sameValue, type WriteState, type WriteStatus } from '@edgetwin/api';
import type { Logger } from 'pino';
import { backoff, withTimeout } from './backoff.js';
import { type DeviceDriver, DriverError, type RawValue } from './driver.js';
import { setBit, type TransformSpec, toEngineering, toRaw, transformSpec } from './transforms.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}
export const DEFAULT_WRITE_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 200, maxMs: 5000 };

export interface ReconcilerDeps {
  deviceId: string;
  /** the property as currently declared (undefined once removed) */
  property(): ResolvedProperty | undefined;
  /** the connected driver, or undefined while the device is not connected */
  driver(): DeviceDriver | undefined;
  publish(status: WriteStatus): void;
  /** a read-back value, so the twin learns the new value without waiting for the next cycle */
  onReadBack(engineering: string, timestamp: number): void;
  onFinal(state: 'verified' | 'failed'): void;
  logger: Logger;
  retry: RetryPolicy;
  callTimeoutMs: number;
}

interface Target {
  desired: string;
  /** undefined when the desired value was refused before any write */
  raw?: RawValue;
  spec?: TransformSpec;
  /** the engineering value the device should read back (differs from desired when clamped) */
  expect?: string;
  note?: string;
}

const OFFLINE_CODES = new Set(['connection', 'not-connected']);

export class WriteReconciler {
  private target: Target | undefined;
  private state: WriteState | undefined;
  private lastPublished = '';
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** an attempt was asked for while one was in flight (a new desired value, a drift): run it after */
  private again = false;
  private waitingForConnection = false;
  private stopped = false;
  /**
   * When the value was last verified (performance.now()). A reading sent before it may hold the value from
   * before the write and is no sign of drift: a read cycle's batch that was under way while a camera's reboot
   * was written (sent before the write began, or while the SystemReboot call was still unanswered) came back
   * after the verification with the old `false`, and the reboot was sent again.
   */
  private verifiedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly propertyName: string,
    private readonly deps: ReconcilerDeps,
  ) {}

  get current(): { desired: string; state: WriteState | undefined } | undefined {
    return this.target && { desired: this.target.desired, state: this.state };
  }

  /**
   * A desired value from the spec or a twin delta. The same value again is ignored while it is in
   * progress, verified (drift is caught by readings) or refused (until a different value arrives).
   */
  setDesired(desired: string): void {
    if (this.stopped || this.target?.desired === desired) return;
    this.begin(desired);
  }

  /** Validate and apply the current desired value again (the property's definition changed). */
  refresh(): void {
    if (this.target && !this.stopped) this.begin(this.target.desired);
  }

  private begin(desired: string): void {
    clearTimeout(this.timer);
    this.attempts = 0;
    this.waitingForConnection = false;
    const prepared = this.prepare(desired);
    if (typeof prepared === 'string') {
      this.target = { desired };
      this.status('failed', prepared);
      this.deps.logger.warn(
        { device: this.deps.deviceId, property: this.propertyName, desired, reason: prepared },
        'desired value refused',
      );
      this.deps.onFinal('failed');
      return;
    }
    this.target = prepared;
    this.status('pending', prepared.note);
    void this.attempt();
  }

  /** The target to write, or why the desired value is refused before touching the device. */
  private prepare(desired: string): Target | string {
    const prop = this.deps.property();
    if (!prop) return `device ${this.deps.deviceId} has no property ${this.propertyName}`;
    if (prop.accessMode === 'ReadOnly') return `property ${prop.name} is ReadOnly`;
    const spec = transformSpec(prop);
    if (!spec.ok) return spec.reason;
    const raw = toRaw(desired, prop, spec.value);
    if (!raw.ok) return raw.reason;
    const asRead =
      spec.value.bit !== undefined
        ? toEngineering(setBit(0, spec.value.bit, raw.value === true), prop, spec.value)
        : toEngineering(raw.value, prop, spec.value);
    const expect = asRead.ok ? asRead.value : desired;
    const target: Target = { desired, raw: raw.value, spec: spec.value, expect };
    if (!sameValue(prop.type, expect, desired)) target.note = `clamped to ${expect}`;
    return target;
  }

  /** The device connected (again): write what was waiting for it. */
  onConnected(): void {
    if (!this.waitingForConnection) return;
    this.waitingForConnection = false;
    void this.attempt();
  }

  /**
   * A periodic reading: re-apply a verified value the device no longer holds. `readStartedAt`
   * (performance.now() when the read was sent) lets a reading older than the verification be ignored.
   */
  onReading(engineering: string, readStartedAt = Number.POSITIVE_INFINITY): void {
    const t = this.target;
    // checked on every reading: the cheap state test first, the property lookup only when it may drift
    if (this.state !== 'verified' || !t?.expect || this.busy || readStartedAt < this.verifiedAt) return;
    const prop = this.deps.property();
    if (!prop) return;
    if (prop.visitor.reapplyOnDrift === false || prop.visitor.reapplyOnDrift === 'false') return;
    if (sameValue(prop.type, engineering, t.expect)) return;
    this.deps.logger.info(
      { device: this.deps.deviceId, property: prop.name, desired: t.desired, actual: engineering },
      'device drifted from the desired value; re-applying',
    );
    this.attempts = 0;
    this.status('pending', `device drifted to ${engineering}; re-applying ${t.desired}`);
    void this.attempt();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async attempt(): Promise<void> {
    const target = this.target;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.stopped || !target || target.raw === undefined || !target.spec) return;
    const driver = this.deps.driver();
    const prop = this.deps.property();
    if (!prop) return;
    if (!driver) {
      this.waitingForConnection = true;
      this.status('pending', 'device is not connected; the value is written when it reconnects');
      return;
    }
    this.busy = true;
    this.attempts++;
    const timeout = (what: string) => () =>
      new DriverError(`device ${this.deps.deviceId} property ${prop.name}: ${what} timed out`, 'timeout', true);
    try {
      let raw = target.raw;
      if (target.spec.bit !== undefined) {
        // a bit lives in a word: read the word, change the one bit, write the word
        const word = (await withTimeout(driver.readBatch([prop]), this.deps.callTimeoutMs, timeout('read'))).get(
          prop.name,
        );
        if (!word?.ok) throw word?.error ?? new DriverError(`no reading of ${prop.name}`, 'io', true);
        if (typeof word.value !== 'number')
          throw new DriverError(`bit property ${prop.name} read a non-integer`, 'config', false);
        raw = setBit(word.value, target.spec.bit, raw === true);
      }
      await withTimeout(driver.write(prop, raw), this.deps.callTimeoutMs, timeout('write'));
      if (this.target !== target) return;
      this.status('written', target.note);
      const back = (await withTimeout(driver.readBatch([prop]), this.deps.callTimeoutMs, timeout('read-back'))).get(
        prop.name,
      );
      if (this.target !== target) return;
      if (!back?.ok) throw back?.error ?? new DriverError(`no read-back of ${prop.name}`, 'io', true);
      const eng = toEngineering(back.value, prop, target.spec);
      if (eng.ok) this.deps.onReadBack(eng.value, back.timestamp);
      if (eng.ok && sameValue(prop.type, eng.value, target.expect)) {
        this.verifiedAt = performance.now();
        this.status('verified', target.note);
        this.deps.onFinal('verified');
        return;
      }
      this.retryOrFail(`device holds ${eng.ok ? eng.value : JSON.stringify(back.value)}, not ${target.expect}`, true);
    } catch (e) {
      if (this.target !== target) return;
      const err = e instanceof DriverError ? e : new DriverError((e as Error).message, 'io', true, { cause: e });
      if (OFFLINE_CODES.has(err.code)) {
        this.attempts--;
        this.waitingForConnection = true;
        this.status('pending', `device unreachable (${err.message}); the value is written when it reconnects`);
        return;
      }
      this.retryOrFail(`write failed: ${err.message}`, err.retryable);
    } finally {
      this.busy = false;
      // a desired value that arrived during this write was left pending by begin(): write it now
      if (this.again) {
        this.again = false;
        if (this.target !== target && this.state === 'pending') void this.attempt();
      }
    }
  }

  private retryOrFail(reason: string, retryable: boolean): void {
    const max = this.deps.retry.maxAttempts;
    if (!retryable || this.attempts >= max) {
      const why = retryable ? `${reason} (gave up after ${this.attempts} attempts)` : reason;
      this.status('failed', why);
      this.deps.logger.warn({ device: this.deps.deviceId, property: this.propertyName, reason: why }, 'write failed');
      this.deps.onFinal('failed');
      return;
    }
    const wait = backoff(this.attempts, this.deps.retry.baseMs, this.deps.retry.maxMs);
    this.status('pending', `${reason}; retry ${this.attempts + 1} of ${max} in ${wait} ms`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), wait);
  }

  private status(state: WriteState, reason?: string): void {
    const t = this.target;
    if (!t) return;
    this.state = state;
    const key = `${t.desired}\u0000${state}\u0000${reason ?? ''}`;
    if (key === this.lastPublished) return;
    this.lastPublished = key;
    const s: WriteStatus = {
      property: this.propertyName,
      desired: t.desired,
      state,
      attempts: this.attempts,
      timestamp: Date.now(),
    };
    if (reason) s.reason = reason;
    this.deps.publish(s);
  }
}
