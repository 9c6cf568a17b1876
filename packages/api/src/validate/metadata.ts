// ObjectMeta checks the API server makes itself (the CRD schema only says `metadata: object`):
// known fields only, name a DNS-1123 subdomain, namespace a DNS-1123 label, labels and annotations maps of
// strings.

import type { SchemaProblem } from './structural.js';
import { expectedFields, jsonTypeOf } from './structural.js';
import { quoteValue } from './finding.js';

const OBJECT_META_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function checkMetadata(meta: unknown): SchemaProblem[] {
  if (meta === undefined || meta === null)
    return [{ path: ['metadata'], message: 'Required value', expected: 'expected metadata with at least a name' }];
  if (typeof meta !== 'object' || Array.isArray(meta))
    return [
      {
        path: ['metadata'],
        message: `Invalid value: ${quoteValue(meta)}: must be of type object`,
        expected: `expected object, got ${jsonTypeOf(meta)}`,
      },
    ];
  const m = meta as Record<string, unknown>;
  const out: SchemaProblem[] = [];
  for (const key of Object.keys(m)) {
    if (!OBJECT_META_FIELDS.includes(key))
      out.push({
        path: ['metadata', key],
        message: `unknown field "metadata.${key}"`,
        expected: expectedFields(key, OBJECT_META_FIELDS),
        atKey: true,
      });
  }
  const name = m.name ?? undefined;
  if (name === undefined || name === '') {
    // kubectl apply needs a name to find the live object, even where the server could generate one.
    out.push({ path: ['metadata', 'name'], message: 'Required value', expected: 'expected a name' });
  } else if (typeof name !== 'string') {
    out.push(typeProblem(['metadata', 'name'], name, 'string'));
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    out.push({
      path: ['metadata', 'name'],
      message: `Invalid value: ${quoteValue(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character, at most 253 characters`,
      expected: "expected e.g. 'temperature-sensor-1'",
    });
  }
  const ns = m.namespace ?? undefined;
  if (ns !== undefined && ns !== '') {
    if (typeof ns !== 'string') out.push(typeProblem(['metadata', 'namespace'], ns, 'string'));
    else if (ns.length > 63 || !DNS1123_LABEL.test(ns))
      out.push({
        path: ['metadata', 'namespace'],
        message: `Invalid value: ${quoteValue(ns)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character, at most 63 characters`,
        expected: "expected e.g. 'my-name', regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?'",
      });
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = m[field];
    if (map === undefined || map === null) continue;
    if (typeof map !== 'object' || Array.isArray(map)) {
      out.push(typeProblem(['metadata', field], map, 'object'));
      continue;
    }
    for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
      if (typeof v !== 'string') out.push(typeProblem(['metadata', field, k], v, 'string'));
    }
  }
  return out;
}

function typeProblem(path: string[], value: unknown, want: string): SchemaProblem {
  return {
    path,
    message: `Invalid value: ${quoteValue(value)}: must be of type ${want}`,
    expected: `expected ${want}, got ${jsonTypeOf(value)}`,
  };
}
