// Objects keyed by names that come from clients (property names, device ids): issue 9 §3 asks that
// `constructor`, `toString`, `__proto__` and friends be plain names, never special. A plain `{}` inherits
// them from Object.prototype (`o.constructor` is a function before anything is stored) and `o.__proto__ = v`
// replaces its prototype instead of storing a key, which JSON.stringify then leaves out. A dictionary has
// no prototype, so every name is an ordinary own key and serialises like any other.

/** An empty object with no prototype, for keys taken from input. */
export function dictionary<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** The value stored under an own key of `o`, never one inherited from Object.prototype. */
export function ownValue<V>(o: Record<string, V> | undefined, key: string): V | undefined {
  return o !== undefined && Object.hasOwn(o, key) ? o[key] : undefined;
}

/** Stores `value` under `key` as an own data property, even when `o` is a plain object and key is `__proto__`. */
export function setOwn<V>(o: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}
