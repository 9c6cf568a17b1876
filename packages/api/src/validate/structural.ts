// Validates an object against a CRD's openAPIV3Schema the way the Kubernetes API server does under
// strict field validation (kubectl's default since 1.27): nulls pruned where the schema is not nullable,
// defaults applied, unknown fields reported with their path, then types, enums and required fields.
// The structural schema is translated to JSON Schema once and compiled with ajv.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import type { FieldPath, PathSegment } from './finding.js';
import { formatPath, quoteValue } from './finding.js';

/** The subset of a Kubernetes structural schema (OpenAPI v3 with x-kubernetes-* extensions) we act on. */
export interface K8sSchema {
  type?: string;
  description?: string;
  properties?: Record<string, K8sSchema>;
  additionalProperties?: K8sSchema | boolean;
  items?: K8sSchema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  multipleOf?: number;
  minProperties?: number;
  maxProperties?: number;
  allOf?: K8sSchema[];
  anyOf?: K8sSchema[];
  oneOf?: K8sSchema[];
  not?: K8sSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

/** A schema violation, before it is placed in a file. */
export interface SchemaProblem {
  path: FieldPath;
  message: string;
  expected?: string;
  /** place the finding at the key (unknown fields) rather than the value */
  atKey?: boolean;
}

type JsonSchema = Record<string, unknown>;

const STRING_FORMATS = new Set([
  'date-time',
  'date',
  'time',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uuid',
  'byte',
]);

/** Translates a structural schema to JSON Schema; `root` marks the object root, whose metadata the API server checks itself. */
export function toJsonSchema(s: K8sSchema, root = false): JsonSchema {
  const out: JsonSchema = {};
  const nullable = s.nullable === true;
  if (s['x-kubernetes-int-or-string']) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }, ...(nullable ? [{ type: 'null' }] : [])];
  } else if (s.type !== undefined) {
    out.type = nullable ? [s.type, 'null'] : s.type;
  }
  if (s.enum !== undefined) out.enum = nullable ? [...s.enum, null] : s.enum;
  if (s.default !== undefined) out.default = s.default;
  if (s.format !== undefined && s.type === 'string' && STRING_FORMATS.has(s.format)) out.format = s.format;
  for (const k of [
    'minLength',
    'maxLength',
    'pattern',
    'minItems',
    'maxItems',
    'uniqueItems',
    'multipleOf',
    'minProperties',
    'maxProperties',
  ] as const) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  // OpenAPI v3.0 exclusive bounds are booleans beside minimum/maximum; JSON Schema 7 makes them numbers.
  if (s.minimum !== undefined) out[s.exclusiveMinimum ? 'exclusiveMinimum' : 'minimum'] = s.minimum;
  if (s.maximum !== undefined) out[s.exclusiveMaximum ? 'exclusiveMaximum' : 'maximum'] = s.maximum;
  if (s.required !== undefined) out.required = s.required;
  if (s.items !== undefined) out.items = toJsonSchema(s.items);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = s[k];
    if (list !== undefined) out[k] = list.map((x) => toJsonSchema(x));
  }
  if (s.not !== undefined) out.not = toJsonSchema(s.not);

  const isObject = s.type === 'object' || s.properties !== undefined;
  if (isObject) {
    const props: Record<string, JsonSchema> = {};
    for (const [name, sub] of Object.entries(s.properties ?? {})) {
      // metadata is ObjectMeta, validated by the API server's own code (see metadata.ts), not by the schema.
      props[name] = root && name === 'metadata' ? { type: 'object' } : toJsonSchema(sub);
    }
    if (s.properties !== undefined) out.properties = props;
    const embedded = s['x-kubernetes-embedded-resource'] === true;
    if (typeof s.additionalProperties === 'object') out.additionalProperties = toJsonSchema(s.additionalProperties);
    else if (s.additionalProperties === true || s['x-kubernetes-preserve-unknown-fields'] === true) {
      // free-form here: unknown fields are kept
    } else if (embedded) {
      out.properties = {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { type: 'object' },
        ...props,
      };
      out.additionalProperties = false;
    } else out.additionalProperties = false;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function childSchema(s: K8sSchema | undefined, key: string): K8sSchema | undefined {
  if (s === undefined) return undefined;
  const p = s.properties?.[key];
  if (p !== undefined) return p;
  return typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
}

/**
 * Drops `field: null` wherever the field has a schema that is not nullable, as the API server does before
 * defaulting. Nulls in free-form (preserve-unknown-fields) data and in unknown fields are left alone.
 * Returns the paths of pruned fields.
 */
export function pruneNulls(value: unknown, s: K8sSchema | undefined, path: PathSegment[] = [], out: FieldPath[] = []) {
  if (s === undefined) return out;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      pruneNulls(item, s.items, [...path, i], out);
    });
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const sub = childSchema(s, key);
      if (sub === undefined) continue;
      if (value[key] === null && sub.nullable !== true) {
        delete value[key];
        out.push([...path, key]);
      } else pruneNulls(value[key], sub, [...path, key], out);
    }
  }
  return out;
}

let sharedAjv: Ajv | undefined;
function ajv(): Ajv {
  if (sharedAjv === undefined) {
    sharedAjv = new Ajv({ allErrors: true, strict: false, useDefaults: true, verbose: true, logger: false });
    formats.default(sharedAjv);
  }
  return sharedAjv;
}

export interface StructuralValidator {
  readonly schema: K8sSchema;
  /** Prunes nulls and applies defaults in place, then validates. */
  validate(obj: Record<string, unknown>): SchemaProblem[];
}

export function compileStructural(schema: K8sSchema): StructuralValidator {
  const fn: ValidateFunction = ajv().compile(toJsonSchema(schema, true));
  return {
    schema,
    validate(obj) {
      pruneNulls(obj, schema);
      if (fn(obj)) return [];
      return describeErrors(fn.errors ?? [], obj);
    },
  };
}

/** JSON pointer to field path; array indices become numbers by looking at the data. */
function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      const i = Number(key);
      out.push(i);
      cur = cur[i];
    } else {
      out.push(key);
      cur = isPlainObject(cur) ? cur[key] : undefined;
    }
  }
  return out;
}

function valueAt(data: unknown, path: FieldPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isPlainObject(cur)) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

export function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function describeErrors(errors: ErrorObject[], data: unknown): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  // int-or-string fields fail every branch of their anyOf; report the anyOf once, not each branch.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && anyOfPaths.has(e.instancePath) && e.schemaPath.includes('/anyOf/')) continue;
    const base = pointerToPath(e.instancePath, data);
    const p = problem(e, base, data);
    const key = `${p.path.join('\u0000')}|${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

function problem(e: ErrorObject, base: PathSegment[], data: unknown): SchemaProblem {
  const value = valueAt(data, base);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const path = [...base, field];
      const known = Object.keys((e.parentSchema as { properties?: Record<string, unknown> })?.properties ?? {});
      return {
        path,
        message: `unknown field "${formatPath(path)}"`,
        expected: expectedFields(field, known),
        atKey: true,
      };
    }
    case 'required': {
      const field = String(params.missingProperty);
      return { path: [...base, field], message: 'Required value', expected: `expected field "${field}" here` };
    }
    case 'type': {
      const want = String(params.type).replace(',null', '');
      return {
        path: base,
        message: `Invalid value: ${quoteValue(value)}: must be of type ${want}`,
        expected: `expected ${want}, got ${jsonTypeOf(value)}`,
      };
    }
    case 'anyOf':
      return {
        path: base,
        message: `Invalid value: ${quoteValue(value)}: must be an integer or a string`,
        expected: `expected integer or string, got ${jsonTypeOf(value)}`,
      };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).filter((v) => v !== null);
      const hint =
        typeof value === 'string'
          ? allowed.find((a) => typeof a === 'string' && a.toLowerCase() === value.toLowerCase())
          : undefined;
      return {
        path: base,
        message: `Unsupported value: ${quoteValue(value)}`,
        expected:
          hint !== undefined
            ? `did you mean ${quoteValue(hint)}? supported values: ${allowed.map(quoteValue).join(', ')}`
            : `supported values: ${allowed.map(quoteValue).join(', ')}`,
      };
    }
    default:
      return { path: base, message: `Invalid value: ${quoteValue(value)}: ${e.message ?? e.keyword}` };
  }
}

/** Names the closest known field (a typo or a case slip) or lists the known ones. */
export function expectedFields(field: string, known: string[]): string {
  if (known.length === 0) return 'no fields are allowed here';
  const close = known
    .map((k) => ({ k, d: distance(k.toLowerCase(), field.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  if (close !== undefined && close.d <= Math.max(1, Math.floor(field.length / 4))) return `did you mean "${close.k}"?`;
  const stem = field.length >= 3 ? known.find((k) => k.startsWith(field) || field.startsWith(k)) : undefined;
  if (stem !== undefined) return `did you mean "${stem}"?`;
  return `known fields: ${[...known].sort().join(', ')}`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
