// fast-check arbitraries of objects a Kubernetes structural schema accepts: known fields only (plus free
// keys where unknown fields are preserved), right types, enum values, required fields present.
import fc from 'fast-check';
import type { K8sSchema } from '../../src/validate/index.js';

const json = fc.jsonValue({ maxDepth: 2 });

export function fromSchema(s: K8sSchema, depth = 0): fc.Arbitrary<unknown> {
  if (s.enum !== undefined) return fc.constantFrom(...s.enum);
  if (s['x-kubernetes-int-or-string']) return fc.oneof(fc.integer(), fc.string());
  switch (s.type) {
    case 'string':
      return s.format === 'byte' ? fc.base64String({ maxLength: 12 }) : fc.string({ maxLength: 8 });
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return depth > 6 || s.items === undefined
        ? fc.constant([])
        : fc.array(fromSchema(s.items, depth + 1), { maxLength: 2 });
    default:
      return objectFrom(s, depth);
  }
}

function objectFrom(s: K8sSchema, depth: number): fc.Arbitrary<unknown> {
  const props = s.properties ?? {};
  const keys = Object.keys(props);
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const k of keys) shape[k] = depth > 6 ? fc.constant(undefined) : fromSchema(props[k] as K8sSchema, depth + 1);
  const known = fc.record(shape, { requiredKeys: s.required ?? [] });
  if (typeof s.additionalProperties === 'object') {
    const ap = s.additionalProperties;
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fromSchema(ap, depth + 1), { maxKeys: 2 });
  }
  if (s['x-kubernetes-preserve-unknown-fields']) {
    const extra = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !keys.includes(k) && k !== '__proto__'),
      json,
      { maxKeys: 2 },
    );
    return fc.tuple(known, extra).map(([a, b]) => ({ ...b, ...(a as object) }));
  }
  return known;
}
