// Turns the manifest files a client sent into objects, or into finding lines in the validator's format
// (file:line:col: kind/ns/name: path: message). The controller adds the check only it can make: that
// a device's model exists, in the same request or already in the store.

import { API_VERSION, checkValue, type Device, type DeviceModel } from '@edgetwin/api';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { SourceObject } from '../source.js';

export interface ManifestFile {
  file: string;
  text: string;
}

export interface CheckedObject {
  object: SourceObject;
  file: string;
  line: number;
  column: number;
}

export interface CheckedManifests {
  objects: CheckedObject[];
  /** error lines; non-empty means nothing may be applied */
  findings: string[];
}

type Path = (string | number)[];

export function checkManifests(files: ManifestFile[], existingModels: DeviceModel[]): CheckedManifests {
  const objects: CheckedObject[] = [];
  const findings: string[] = [];
  for (const f of files) parseFile(f, objects, findings);
  if (findings.length === 0) findings.push(...checkModelsExist(objects, existingModels));
  return { objects, findings };
}

function parseFile(f: ManifestFile, objects: CheckedObject[], findings: string[]): void {
  const lc = new LineCounter();
  const docs = parseAllDocuments(f.text, { lineCounter: lc, version: '1.1', uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => {
    const p = lc.linePos(offset);
    return `${f.file}:${p.line}:${p.col}`;
  };
  if (!Array.isArray(docs)) {
    findings.push(`${f.file}:1:1: -/-/-: -: not a YAML stream`);
    return;
  }
  let count = 0;
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors)
        findings.push(`${at(e.pos[0])}: -/-/-: -: YAML syntax error: ${e.message.split('\n')[0]}`);
      continue;
    }
    if (doc.contents === null) continue;
    count++;
    const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
    const start = doc.contents.range?.[0] ?? 0;
    const pos = (path: Path) => at(offsetOf(doc, path) ?? start);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      findings.push(`${pos([])}: -/-/-: -: expected a Kubernetes object (a mapping with apiVersion and kind)`);
      continue;
    }
    const o = value as Record<string, unknown>;
    const meta = (o.metadata ?? {}) as Record<string, unknown>;
    const kind = typeof o.kind === 'string' ? o.kind : '-';
    const ns = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default';
    const name = typeof meta.name === 'string' && meta.name ? meta.name : '-';
    const who = `${kind}/${ns}/${name}`;
    const before = findings.length;
    if (o.apiVersion !== API_VERSION)
      findings.push(
        `${pos(['apiVersion'])}: ${who}: apiVersion: must be ${API_VERSION}, got ${JSON.stringify(o.apiVersion)}`,
      );
    if (kind !== 'Device' && kind !== 'DeviceModel')
      findings.push(`${pos(['kind'])}: ${who}: kind: must be Device or DeviceModel, got ${JSON.stringify(o.kind)}`);
    if (name === '-') findings.push(`${pos(['metadata'])}: ${who}: metadata.name: is required`);
    else if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253)
      findings.push(
        `${pos(['metadata', 'name'])}: ${who}: metadata.name: must be a lowercase DNS-1123 name, got "${name}"`,
      );
    const spec = o.spec;
    if (spec !== undefined && (spec === null || typeof spec !== 'object' || Array.isArray(spec)))
      findings.push(`${pos(['spec'])}: ${who}: spec: must be an object`);
    if (findings.length > before) continue;
    meta.namespace = ns;
    o.spec ??= {};
    const props = (o.spec as { properties?: unknown }).properties;
    if (props !== undefined && !Array.isArray(props))
      findings.push(`${pos(['spec', 'properties'])}: ${who}: spec.properties: must be a list`);
    else if (Array.isArray(props)) {
      const seen = new Set<string>();
      props.forEach((p, i) => {
        const pname = (p as { name?: unknown } | null)?.name;
        if (typeof pname !== 'string' || !pname)
          findings.push(`${pos(['spec', 'properties', i])}: ${who}: spec.properties[${i}].name: is required`);
        else if (seen.has(pname))
          findings.push(
            `${pos(['spec', 'properties', i, 'name'])}: ${who}: spec.properties[${i}].name: duplicate property "${pname}"`,
          );
        else seen.add(pname);
      });
    }
    if (findings.length > before) continue;
    const line = lc.linePos(start);
    objects.push({ object: o as unknown as SourceObject, file: f.file, line: line.line, column: line.col });
  }
  if (count === 0 && findings.length === 0) findings.push(`${f.file}:1:1: -/-/-: -: the file holds no object`);
}

/** A device needs its model (same namespace) in the request or the store; its desired values must fit it. */
function checkModelsExist(objects: CheckedObject[], existing: DeviceModel[]): string[] {
  const models = new Map<string, DeviceModel>();
  for (const m of existing) models.set(`${m.metadata.namespace ?? 'default'}/${m.metadata.name}`, m);
  for (const c of objects)
    if (c.object.kind === 'DeviceModel')
      models.set(`${c.object.metadata.namespace}/${c.object.metadata.name}`, c.object);
  const out: string[] = [];
  for (const c of objects) {
    if (c.object.kind !== 'Device') continue;
    const d = c.object as Device;
    const who = `${c.file}:${c.line}:${c.column}: Device/${d.metadata.namespace}/${d.metadata.name}`;
    const ref = d.spec.deviceModelRef?.name;
    if (!ref) {
      out.push(`${who}: spec.deviceModelRef.name: is required (the DeviceModel this device uses)`);
      continue;
    }
    const model = models.get(`${d.metadata.namespace}/${ref}`);
    if (!model) {
      out.push(
        `${who}: spec.deviceModelRef.name: DeviceModel ${d.metadata.namespace}/${ref} does not exist ` +
          '(apply it in the same command or before the device)',
      );
      continue;
    }
    out.push(...checkDesiredAgainstModel(d, model, who));
  }
  return out;
}

export function checkDesiredAgainstModel(d: Device, model: DeviceModel, who: string): string[] {
  const out: string[] = [];
  const mprops = new Map((model.spec.properties ?? []).map((p) => [p.name, p]));
  (d.spec.properties ?? []).forEach((p, i) => {
    const mp = mprops.get(p.name);
    if (!mp) {
      out.push(
        `${who}: spec.properties[${i}].name: property "${p.name}" is not in DeviceModel ${model.metadata.name} ` +
          `(has: ${[...mprops.keys()].join(', ') || 'none'})`,
      );
      return;
    }
    if (p.desired?.value === undefined) return;
    const v = checkValue(mp, String(p.desired.value));
    if (!v.ok) out.push(`${who}: spec.properties[${i}].desired.value: ${v.reason} (model type ${mp.type ?? 'STRING'})`);
  });
  return out;
}

function offsetOf(doc: Document, path: Path): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
  }
  return undefined;
}
