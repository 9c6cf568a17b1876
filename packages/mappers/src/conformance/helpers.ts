import type { ResolvedProperty } from '@edgetwin/api';
import type { RawValue } from '../framework/driver.js';

/** Rejects if `p` does not settle within `ms`, naming what hung. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (a hang)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A raw value different from `v` that the property should accept. */
export function otherValue(v: RawValue, p: ResolvedProperty): RawValue {
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'number') {
    const next = Number.isInteger(v) ? v + 1 : v + 0.5;
    const max = typeof p.visitor.max === 'number' ? p.visitor.max : p.maximum;
    return max !== undefined && next > max ? v - 1 : next;
  }
  return `${v}1`;
}

/** A raw value of the wrong JS type for `v`, which no driver should write. */
export function badValue(v: RawValue): RawValue | undefined {
  if (typeof v === 'number' || typeof v === 'boolean') return 'not-a-value';
  return undefined;
}
