// Turns the manifest files a client sent into objects to store, or into finding lines
// (file:line:col: kind/ns/name: path: message) from the shared validator in @edgetwin/api. The
// validator also makes the check only the controller can make: that a device's model exists, in the
// same request or already in the store.

import {
  type CrdSet,
  type DeviceModel,
  formatFinding,
  loadCrdSet,
  type ProtocolValidators,
  validateManifests,
} from '@edgetwin/api';
import { parseYaml } from '@edgetwin/api/validate/yaml-source';
import type { SourceObject } from '../source.js';

export interface ManifestFile {
  file: string;
  text: string;
}

export interface CheckedObject {
  object: SourceObject;
  file: string;
  line: number;
}

export interface CheckedManifests {
  objects: CheckedObject[];
  /** error lines; non-empty means nothing may be applied */
  findings: string[];
  /** notices (not errors): shown to the user, do not stop the apply */
  notices: string[];
}

let crds: CrdSet | undefined;

/** The repository's CRDs, read once; a controller without them cannot validate and says why. */
function crdSet(): CrdSet {
  crds ??= loadCrdSet();
  return crds;
}

/** `protocols`: each driver's config check, handed in by whoever composes the controller (the CLI). */
export function checkManifests(
  files: ManifestFile[],
  existingModels: DeviceModel[],
  protocols: ProtocolValidators = {},
): CheckedManifests {
  let set: CrdSet;
  try {
    set = crdSet();
  } catch (e) {
    return {
      objects: [],
      findings: [`-/-/-: -: cannot load the CRDs to validate against: ${(e as Error).message}`],
      notices: [],
    };
  }
  const result = validateManifests(files, { existingModels, crds: set, protocols });
  const findings = result.findings.filter((f) => f.severity === 'error').map(formatFinding);
  const notices = result.findings.filter((f) => f.severity !== 'error').map(formatFinding);
  const objects: CheckedObject[] = [];
  for (const v of result.objects) {
    // DeviceStatus belongs to the controller (it writes edge reports there); a manifest cannot set it.
    if (v.object.kind === 'DeviceStatus') {
      notices.push(
        `${v.file}:${v.line}:1: DeviceStatus/${v.object.metadata.namespace ?? 'default'}/${v.object.metadata.name}: -: ` +
          'notice: skipped: DeviceStatus is written by the controller from edge reports',
      );
      continue;
    }
    const object = v.object as SourceObject;
    object.metadata.namespace ||= 'default';
    objects.push({ object, file: v.file, line: v.line });
  }
  return { objects, findings, notices };
}

export interface Identity {
  kind: 'Device' | 'DeviceModel';
  namespace: string;
  name: string;
  file: string;
  line: number;
  column: number;
}

/**
 * What `delete -f` needs from the files: which objects they name. Only syntax and identity are checked,
 * so a manifest that no longer validates (e.g. its model is gone) can still be deleted.
 */
export function identitiesOf(files: ManifestFile[]): { identities: Identity[]; findings: string[] } {
  const identities: Identity[] = [];
  const findings: string[] = [];
  for (const f of files) {
    const parsed = parseYaml(f.text);
    for (const p of parsed.problems)
      if (p.severity === 'error')
        findings.push(`${f.file}:${p.position.line}:${p.position.column}: -/-/-: -: ${p.message}`);
    for (const d of parsed.docs) {
      const v = d.value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      const at = `${f.file}:${d.start.line}:${d.start.column}`;
      const kind = typeof v?.kind === 'string' ? v.kind : '-';
      const name = typeof v?.metadata?.name === 'string' ? v.metadata.name : '';
      const namespace =
        typeof v?.metadata?.namespace === 'string' && v.metadata.namespace ? v.metadata.namespace : 'default';
      if (kind === 'DeviceStatus') continue;
      if (kind !== 'Device' && kind !== 'DeviceModel') {
        findings.push(
          `${at}: ${kind}/${namespace}/${name || '-'}: kind: cannot delete a ${kind} (expected Device or DeviceModel)`,
        );
        continue;
      }
      if (!name) {
        findings.push(
          `${at}: ${kind}/${namespace}/-: metadata.name: Required value (expected the name of the object to delete)`,
        );
        continue;
      }
      identities.push({ kind, namespace, name, file: f.file, line: d.start.line, column: d.start.column });
    }
  }
  return { identities, findings };
}
