// Loads CustomResourceDefinitions from YAML at runtime, so the schema the validator enforces is the one
// in crds/ that `kubectl apply` installs: one source of truth, never a hand-copied schema.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { compileStructural, type K8sSchema, type StructuralValidator } from './structural.js';

/** crds/ at the repository root, found relative to this file (packages/api/src/validate/). */
export const DEFAULT_CRD_DIR = fileURLToPath(new URL('../../../../crds/', import.meta.url));

export interface CrdVersion {
  group: string;
  kind: string;
  version: string;
  served: boolean;
  storage: boolean;
  /** status is written only through /status; `kubectl apply` drops it */
  statusSubresource: boolean;
  schema: K8sSchema;
  /** compiled on first use */
  validator(): StructuralValidator;
}

export interface CrdSet {
  /** where the CRDs were read from */
  source: string;
  /** `group/version` + kind, e.g. lookup('devices.kubeedge.io/v1beta1', 'Device') */
  lookup(apiVersion: string, kind: string): CrdVersion | undefined;
  /** kinds served for a group */
  kinds(group: string): string[];
  /** served versions of a group/kind */
  versions(group: string, kind: string): string[];
}

interface CrdDoc {
  kind?: string;
  spec?: {
    group?: string;
    names?: { kind?: string };
    versions?: Array<{
      name?: string;
      served?: boolean;
      storage?: boolean;
      subresources?: { status?: unknown };
      schema?: { openAPIV3Schema?: K8sSchema };
    }>;
  };
}

/** Parses CRD documents; throws with the file name if one is not a CRD with schemas. */
export function crdSetFromTexts(files: Array<{ file: string; text: string }>, source = 'memory'): CrdSet {
  const byKey = new Map<string, CrdVersion>();
  const kindsByGroup = new Map<string, Set<string>>();
  for (const { file, text } of files) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: not a valid CRD file: ${doc.errors[0]?.message}`);
      const crd = doc.toJS() as CrdDoc | null;
      if (crd === null) continue;
      const group = crd.spec?.group;
      const kind = crd.spec?.names?.kind;
      if (crd.kind !== 'CustomResourceDefinition' || !group || !kind)
        throw new Error(`${file}: expected a CustomResourceDefinition with spec.group and spec.names.kind`);
      for (const v of crd.spec?.versions ?? []) {
        const schema = v.schema?.openAPIV3Schema;
        if (!v.name || schema === undefined)
          throw new Error(`${file}: version ${v.name ?? '?'} has no openAPIV3Schema`);
        let compiled: StructuralValidator | undefined;
        byKey.set(`${group}/${v.name}|${kind}`, {
          group,
          kind,
          version: v.name,
          served: v.served !== false,
          storage: v.storage === true,
          statusSubresource: v.subresources?.status !== undefined,
          schema,
          validator() {
            compiled ??= compileStructural(schema);
            return compiled;
          },
        });
        const kinds = kindsByGroup.get(group) ?? new Set<string>();
        kinds.add(kind);
        kindsByGroup.set(group, kinds);
      }
    }
  }
  return {
    source,
    lookup: (apiVersion, kind) => byKey.get(`${apiVersion}|${kind}`),
    kinds: (group) => [...(kindsByGroup.get(group) ?? [])].sort(),
    versions: (group, kind) =>
      [...byKey.values()].filter((v) => v.group === group && v.kind === kind && v.served).map((v) => v.version),
  };
}

const cache = new Map<string, CrdSet>();

/** Every *.yaml / *.yml in `dir` (default: the repository's crds/), parsed once per process. */
export function loadCrdSet(dir: string = DEFAULT_CRD_DIR): CrdSet {
  const hit = cache.get(dir);
  if (hit !== undefined) return hit;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n));
  } catch (e) {
    throw new Error(`cannot read CRD directory ${dir}: ${(e as Error).message}`);
  }
  const set = crdSetFromTexts(
    names.sort().map((n) => ({ file: join(dir, n), text: readFileSync(join(dir, n), 'utf8') })),
    dir,
  );
  cache.set(dir, set);
  return set;
}
