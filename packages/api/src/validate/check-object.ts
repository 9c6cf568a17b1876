// Checks one object as the API server would against our CRDs: identity, version (v1alpha2 converted),
// size, ObjectMeta, the status subresource, then the structural schema.

import { API_VERSION, GROUP } from '../types.js';
import { convertV1alpha2 } from './convert-v1alpha2.js';
import type { CrdSet } from './crd-schemas.js';
import { type Candidate, type Entry, isObject, toFinding } from './entry.js';
import type { FieldPath, Severity } from './finding.js';
import { checkMetadata } from './metadata.js';
import { jsonTypeOf, type SchemaProblem } from './structural.js';

/** The API server refuses objects larger than etcd's request limit (1.5 MiB). */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;
/** Total size the API server allows for an object's annotations. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** `defaultNamespace` is what kubectl's current namespace (or -n) gives objects that name none. */
export function checkObject(c: Candidate, crds: CrdSet, defaultNamespace = 'default'): Entry {
  const v = c.value;
  const meta = isObject(v) && isObject(v.metadata) ? v.metadata : {};
  const entry: Entry = {
    candidate: c,
    kind: isObject(v) && typeof v.kind === 'string' && v.kind ? v.kind : '-',
    namespace: !isObject(v)
      ? '-'
      : typeof meta.namespace === 'string' && meta.namespace
        ? meta.namespace
        : defaultNamespace,
    name: typeof meta.name === 'string' && meta.name ? meta.name : '-',
    findings: [],
  };
  const add = (
    p: { path: FieldPath; message: string; expected?: string; atKey?: boolean },
    severity: Severity = 'error',
  ) => entry.findings.push(toFinding(entry, p, severity));

  if (!isObject(v)) {
    add({
      path: [],
      message: 'document is not a Kubernetes object',
      expected: `expected a mapping with apiVersion, kind and metadata, got ${jsonTypeOf(v)}`,
    });
    return entry;
  }
  let obj = v;
  if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '') {
    add({ path: ['apiVersion'], message: 'Required value', expected: `expected apiVersion, e.g. ${API_VERSION}` });
    return entry;
  }
  if (typeof obj.kind !== 'string' || obj.kind === '') {
    add({ path: ['kind'], message: 'Required value', expected: 'expected kind Device, DeviceModel or DeviceStatus' });
    return entry;
  }
  const slash = obj.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : obj.apiVersion.slice(0, slash);
  const version = obj.apiVersion.slice(slash + 1);
  if (group !== GROUP) {
    // it may be cluster-scoped: do not invent a namespace for it
    if (typeof meta.namespace !== 'string' || !meta.namespace) entry.namespace = '-';
    add({ path: [], message: `skipped: ${obj.apiVersion} ${obj.kind} is not a ${GROUP} object` }, 'notice');
    return entry;
  }
  if (version === 'v1alpha2') {
    // First as the API server would take the old version: against its own schema (our CRDs list it, not
    // served), so unknown or misplaced fields are refused with their path instead of being carried into
    // configData by the conversion (issue 9 §5). Only then convert.
    const old = crds.lookup(obj.apiVersion, obj.kind as string);
    if (old !== undefined) {
      const problems = old.validator().validate(obj);
      for (const p of problems) add(withYamlHint(p, c));
      if (problems.length > 0) return entry;
    }
    const conv = convertV1alpha2(obj);
    if (conv === undefined) {
      add({
        path: ['apiVersion'],
        message: `${obj.apiVersion} ${obj.kind} cannot be converted`,
        expected: `expected ${API_VERSION}`,
      });
      return entry;
    }
    add(
      {
        path: ['apiVersion'],
        message: `converted from ${obj.apiVersion} to ${API_VERSION}: ${conv.notes.join('; ')}`,
        expected: 'our CRDs serve v1beta1 only; `edgetwin validate --convert` prints the converted manifest',
      },
      'notice',
    );
    obj = conv.object;
    // positions of converted fields no longer match the source: report them at the document start
    c = { ...c, locate: () => c.start, sourceText: () => undefined };
    entry.candidate = c;
  }
  const crd = crds.lookup(obj.apiVersion as string, obj.kind as string);
  if (crd === undefined || !crd.served) {
    const kinds = crds.kinds(group);
    if (kinds.includes(obj.kind as string))
      add({
        path: ['apiVersion'],
        message: `version ${version} of ${obj.kind} is not served`,
        expected: `expected ${crds
          .versions(group, obj.kind as string)
          .map((x) => `${group}/${x}`)
          .join(' or ')}`,
      });
    else
      add({
        path: ['kind'],
        message: `unknown kind "${obj.kind}" in ${group}`,
        expected: `expected one of ${kinds.join(', ')}`,
      });
    return entry;
  }
  const size = Buffer.byteLength(JSON.stringify(obj));
  if (size > MAX_OBJECT_BYTES) {
    add({
      path: [],
      message: `object is ${size} bytes, too large for the API server`,
      expected: `expected at most ${MAX_OBJECT_BYTES} bytes (etcd's request limit); split it into several objects`,
    });
    return entry;
  }
  if (size > MAX_ANNOTATIONS_BYTES)
    add(
      {
        path: [],
        message: `object is ${size} bytes: client-side \`kubectl apply\` copies it into the last-applied-configuration annotation, which the API server limits to ${MAX_ANNOTATIONS_BYTES} bytes`,
        expected: 'use `kubectl apply --server-side` or `kubectl create` for objects this large',
      },
      'notice',
    );
  for (const p of checkMetadata(obj.metadata)) add(p);
  // The API server stores the request's namespace in the object; later checks look models up by it.
  if (isObject(obj.metadata) && !obj.metadata.namespace) obj.metadata.namespace = defaultNamespace;
  if (crd.statusSubresource && obj.status !== undefined) {
    add(
      {
        path: ['status'],
        message: 'status is ignored by kubectl apply: it is a subresource the controller writes',
        atKey: true,
      },
      'notice',
    );
    delete obj.status;
  }
  for (const p of crd.validator().validate(obj)) add(withYamlHint(p, c));
  entry.object = obj;
  return entry;
}

/** kubectl reads YAML 1.1: unquoted on/off/yes/no are booleans and 1 is a number where a string is wanted. */
function withYamlHint(p: SchemaProblem, c: Candidate): SchemaProblem {
  if (!p.message.includes('must be of type string')) return p;
  const src = c.sourceText(p.path);
  if (src === undefined) return p;
  const got = p.expected?.split('got ')[1] ?? 'non-string';
  return {
    ...p,
    expected: `${p.expected}; quote it as "${src}": unquoted, YAML 1.1 (as kubectl reads it) makes it ${got}`,
  };
}
