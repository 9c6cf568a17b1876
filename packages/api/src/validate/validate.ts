// Validates Device, DeviceModel and DeviceStatus manifests as a set: first as the Kubernetes API server
// would against our CRDs (crds/), then with the edgetwin checks across objects (semantic.ts).

import type { ProtocolValidators } from '../protocol-config.js';
import type { Device, DeviceModel, DeviceObject } from '../types.js';
import { checkObject } from './check-object.js';
import { type CrdSet, loadCrdSet } from './crd-schemas.js';
import { crossCheck } from './cross-check.js';
import { type Candidate, hasErrors, isObject } from './entry.js';
import { compareFindings, type FieldPath, type Finding, type Severity } from './finding.js';
import { type Position, parseYaml } from './yaml-source.js';

export { MAX_ANNOTATIONS_BYTES, MAX_OBJECT_BYTES } from './check-object.js';

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
  /** namespace of objects that name none, as kubectl's -n (default "default"); it is written into them */
  defaultNamespace?: string;
  /** CRDs to validate against (default: the repository's crds/) */
  crds?: CrdSet;
  /** cap on findings reported per object (default 100); the rest are counted in one notice */
  maxFindingsPerObject?: number;
  /**
   * each protocol driver's config check, by lower-case protocol name; a Device of that protocol (merged with
   * its model) gets one finding per issue, at the configData key at fault. The CLI composes them from the
   * drivers (api imports no driver).
   */
  protocols?: ProtocolValidators;
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
  const entries = candidates.map((c) => checkObject(c, crds, opts.defaultNamespace));
  crossCheck(entries, opts.existingModels ?? [], opts.existingDevices ?? [], opts.protocols ?? {});
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
    .filter((e) => e.object !== undefined && !hasErrors(e))
    .map((e) => ({
      object: e.object as unknown as DeviceObject,
      file: e.candidate.file,
      line: e.candidate.start.line,
    }));
  return { ok: !findings.some((f) => f.severity === 'error'), objects, findings };
}
