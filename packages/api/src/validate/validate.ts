// Validates Device, DeviceModel and DeviceStatus manifests as a set: first as the Kubernetes API server
// would against our CRDs (crds/), then with the edgetwin checks across objects (semantic.ts).

import { API_VERSION, type Device, type DeviceModel, type DeviceObject, GROUP } from '../types.js';
import { convertV1alpha2 } from './convert-v1alpha2.js';
import { type CrdSet, loadCrdSet } from './crd-schemas.js';
import { compareFindings, type FieldPath, type Finding, formatPath, type Severity } from './finding.js';
import { checkMetadata } from './metadata.js';
import { checkDevice, checkModel, type ModelIndex } from './semantic.js';
import { jsonTypeOf, type SchemaProblem } from './structural.js';
import { type Position, parseYaml } from './yaml-source.js';

export interface ManifestSource {
  /** shown in findings; any string (usually the path given on the command line) */
  file: string;
  text: string;
}

export interface ValidatedObject {
  /** as the API server would store it: nulls pruned, defaults applied, v1alpha2 converted, status dropped where it is a subresource */
  object: DeviceObject;
  file: string;
  /** 1-based line where the object starts (0 when it came without a file) */
  line: number;
}

export interface ValidationResult {
  /** true when no finding is an error */
  ok: boolean;
  /** the objects without errors */
  objects: ValidatedObject[];
  /** errors and notices, ordered by file and position */
  findings: Finding[];
}

export interface ValidateOptions {
  /** models already in the cluster/store; models in the validated set take precedence */
  existingModels?: DeviceModel[];
  /**
   * devices already stored; a DeviceModel in the set that would break one of them (a property it uses
   * removed, its desired value now out of range...) gets an error, unless the set also replaces that device
   */
  existingDevices?: Device[];
  /** CRDs to validate against (default: the repository's crds/) */
  crds?: CrdSet;
  /** cap on findings reported per object (default 100); the rest are counted in one notice */
  maxFindingsPerObject?: number;
}

/** The API server refuses objects larger than etcd's request limit (1.5 MiB). */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;
/** Total size the API server allows for an object's annotations. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

interface Candidate {
  value: unknown;
  file: string;
  start: Position;
  locate(path: FieldPath, atKey?: boolean): Position;
  sourceText(path: FieldPath): string | undefined;
}

interface Entry {
  candidate: Candidate;
  kind: string;
  namespace: string;
  name: string;
  object?: Record<string, unknown>;
  findings: Finding[];
}

/** Validates YAML/JSON texts (each possibly multi-document) together. Never throws on bad input. */
export function validateManifests(sources: ManifestSource[], opts: ValidateOptions = {}): ValidationResult {
  const fileFindings: Finding[] = [];
  const candidates: Candidate[] = [];
  for (const { file, text } of sources) {
    const parsed = parseYaml(text);
    for (const p of parsed.problems)
      fileFindings.push(fileFinding(file, p.position, p.message, p.expected, p.severity));
    if (parsed.nonEmpty === 0)
      fileFindings.push(
        fileFinding(
          file,
          { line: 1, column: 1 },
          'file holds no objects',
          'expected at least one YAML document with apiVersion, kind and metadata',
          'error',
        ),
      );
    for (const d of parsed.docs) {
      const items = listItems(d.value);
      if (items === undefined) {
        candidates.push({ value: d.value, file, start: d.start, locate: d.locate, sourceText: d.sourceText });
        continue;
      }
      items.forEach((value, i) => {
        const at = (path: FieldPath) => ['items', i, ...path];
        candidates.push({
          value,
          file,
          start: d.locate(at([])),
          locate: (path, atKey) => d.locate(at(path), atKey),
          sourceText: (path) => d.sourceText(at(path)),
        });
      });
    }
  }
  return run(candidates, fileFindings, opts);
}

/** Validates objects that have no source file (e.g. received by an API); positions are 0. Does not modify its input. */
export function validateObjects(objects: unknown[], opts: ValidateOptions & { file?: string } = {}): ValidationResult {
  const nowhere = { line: 0, column: 0 };
  const candidates = objects
    .flatMap((o) => listItems(o) ?? [o])
    .map((value) => ({
      value: structuredClone(value),
      file: opts.file ?? '',
      start: nowhere,
      locate: () => nowhere,
      sourceText: () => undefined,
    }));
  return run(candidates, [], opts);
}

/** kubectl applies each item of a `kind: List` (what `kubectl get -o yaml` prints for several objects). */
function listItems(v: unknown): unknown[] | undefined {
  if (!isObject(v) || v.apiVersion !== 'v1' || typeof v.kind !== 'string' || !v.kind.endsWith('List')) return undefined;
  return Array.isArray(v.items) ? v.items : undefined;
}

function fileFinding(
  file: string,
  at: Position,
  message: string,
  expected: string | undefined,
  severity: Severity,
): Finding {
  return {
    file,
    line: at.line,
    column: at.column,
    kind: '-',
    namespace: '-',
    name: '-',
    path: '-',
    message,
    ...(expected !== undefined ? { expected } : {}),
    severity,
  };
}

function run(candidates: Candidate[], fileFindings: Finding[], opts: ValidateOptions): ValidationResult {
  let crds: CrdSet;
  try {
    crds = opts.crds ?? loadCrdSet();
  } catch (e) {
    const f = fileFinding('', { line: 0, column: 0 }, (e as Error).message, 'expected readable CRDs in crds/', 'error');
    return { ok: false, objects: [], findings: [f] };
  }
  const entries = candidates.map((c) => checkOne(c, crds));
  crossCheck(entries, opts.existingModels ?? [], opts.existingDevices ?? []);
  const cap = opts.maxFindingsPerObject ?? 100;
  const findings = [...fileFindings];
  for (const e of entries) {
    findings.push(...e.findings.slice(0, cap));
    if (e.findings.length > cap)
      findings.push({
        ...e.findings[cap]!,
        severity: 'notice',
        path: '-',
        message: `${e.findings.length - cap} more findings in this object not shown`,
        expected: undefined,
      });
  }
  for (const f of findings) if (f.expected === undefined) delete f.expected;
  findings.sort(compareFindings);
  const objects: ValidatedObject[] = entries
    .filter((e) => e.object !== undefined && !e.findings.some((f) => f.severity === 'error'))
    .map((e) => ({
      object: e.object as unknown as DeviceObject,
      file: e.candidate.file,
      line: e.candidate.start.line,
    }));
  return { ok: !findings.some((f) => f.severity === 'error'), objects, findings };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkOne(c: Candidate, crds: CrdSet): Entry {
  const v = c.value;
  const meta = isObject(v) && isObject(v.metadata) ? v.metadata : {};
  const entry: Entry = {
    candidate: c,
    kind: isObject(v) && typeof v.kind === 'string' && v.kind ? v.kind : '-',
    namespace: !isObject(v) ? '-' : typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default',
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

function toFinding(
  e: Entry,
  p: { path: FieldPath; message: string; expected?: string; atKey?: boolean },
  severity: Severity,
): Finding {
  const at = p.path.length === 0 ? e.candidate.start : e.candidate.locate(p.path, p.atKey);
  const f: Finding = {
    file: e.candidate.file,
    line: at.line,
    column: at.column,
    kind: e.kind,
    namespace: e.namespace,
    name: e.name,
    path: formatPath(p.path),
    message: p.message,
    severity,
  };
  if (p.expected !== undefined) f.expected = p.expected;
  return f;
}

function crossCheck(entries: Entry[], existingModels: DeviceModel[], existingDevices: Device[]): void {
  const models: ModelIndex = new Map();
  for (const m of existingModels) models.set(`${m.metadata.namespace || 'default'}/${m.metadata.name}`, m);
  const firstOf = new Map<string, Entry>();
  for (const e of entries) {
    if (e.object === undefined) continue;
    const key = `${e.kind}/${e.namespace}/${e.name}`;
    const first = firstOf.get(key);
    if (first !== undefined) {
      e.findings.push(
        toFinding(
          e,
          {
            path: ['metadata', 'name'],
            message: `edgetwin check: ${key} appears twice in the set`,
            expected: `expected each object once; first at ${first.candidate.file === e.candidate.file ? 'line ' : `${first.candidate.file}:`}${first.candidate.start.line}`,
          },
          'error',
        ),
      );
      continue;
    }
    firstOf.set(key, e);
    if (e.kind === 'DeviceModel') {
      const clean = !e.findings.some((f) => f.severity === 'error');
      models.set(`${e.namespace}/${e.name}`, clean ? (e.object as unknown as DeviceModel) : null);
    }
  }
  for (const e of entries) {
    if (e.object === undefined || e.findings.some((f) => f.severity === 'error')) continue;
    const problems =
      e.kind === 'DeviceModel'
        ? checkModel(e.object as unknown as DeviceModel)
        : e.kind === 'Device'
          ? checkDevice(e.object as never, models)
          : [];
    for (const p of problems) e.findings.push(toFinding(e, p, p.severity));
  }
  checkStoredDevices(existingDevices, firstOf, models);
}

/** Reports, on the model being applied, every stored device (not replaced by the set) that it would break. */
function checkStoredDevices(devices: Device[], inSet: Map<string, Entry>, models: ModelIndex): void {
  for (const d of devices) {
    const ns = d.metadata?.namespace || 'default';
    if (inSet.has(`Device/${ns}/${d.metadata?.name}`)) continue;
    const model = inSet.get(`DeviceModel/${ns}/${d.spec?.deviceModelRef?.name}`);
    if (model === undefined || model.findings.some((f) => f.severity === 'error')) continue;
    for (const p of checkDevice(d, models)) {
      if (p.severity !== 'error') continue;
      model.findings.push(
        toFinding(
          model,
          {
            path: [],
            message: `edgetwin check: stored Device ${ns}/${d.metadata.name} would break: ${p.message.replace(/^edgetwin check: /, '')} at ${formatPath(p.path)}`,
            expected: p.expected ?? 'expected the device to stay valid; change or apply it together with this model',
          },
          'error',
        ),
      );
    }
  }
}
