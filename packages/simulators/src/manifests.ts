// Loads Device and DeviceModel manifests from YAML files or directories (multi-document files allowed), so
// a simulator, a demo or a test starts from exactly the manifests a cluster would get.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  API_VERSION,
  type Device,
  type DeviceModel,
  deviceId,
  type ResolvedDevice,
  resolveDevice,
} from '@edgetwin/api';
import { LineCounter, parseAllDocuments } from 'yaml';

export interface LoadedManifests {
  devices: Device[];
  models: DeviceModel[];
}

/** A manifest problem with the file and line it was found at. */
export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'ManifestError';
  }
}

/** Reads every .yaml/.yml file named (directories: their files, sorted); other kinds are skipped. */
export async function loadManifestFiles(paths: string[]): Promise<LoadedManifests> {
  const out: LoadedManifests = { devices: [], models: [] };
  for (const file of await expandPaths(paths)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ManifestError(file, 0, `cannot read: ${(e as Error).message}`);
    }
    parseManifestText(text, file, out);
  }
  return out;
}

/** Parses one YAML text (possibly several documents) into `into`. */
export function parseManifestText(text: string, file: string, into: LoadedManifests): void {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  if (!Array.isArray(docs)) throw new ManifestError(file, 1, 'not a YAML stream');
  for (const doc of docs) {
    const line = lines.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
    const err = doc.errors[0];
    if (err) throw new ManifestError(file, err.linePos?.[0].line ?? line, `YAML: ${err.message.split('\n')[0]}`);
    const obj = doc.toJS() as unknown;
    if (obj === null || obj === undefined) continue;
    if (typeof obj !== 'object' || Array.isArray(obj))
      throw new ManifestError(file, line, 'a manifest must be a mapping');
    const o = obj as Record<string, unknown>;
    if (o.kind !== 'Device' && o.kind !== 'DeviceModel') continue;
    if (o.apiVersion !== API_VERSION)
      throw new ManifestError(
        file,
        line,
        `${String(o.kind)} apiVersion must be ${API_VERSION} (got ${String(o.apiVersion)})`,
      );
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (!meta || typeof meta.name !== 'string' || meta.name === '')
      throw new ManifestError(file, line, `${o.kind} metadata.name is missing`);
    if (typeof o.spec !== 'object' || o.spec === null)
      throw new ManifestError(file, line, `${o.kind} ${meta.name}: spec is missing`);
    if (o.kind === 'Device') into.devices.push(o as unknown as Device);
    else into.models.push(o as unknown as DeviceModel);
  }
}

async function expandPaths(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch (e) {
      throw new ManifestError(p, 0, `cannot read: ${(e as Error).message}`);
    }
    if (s.isDirectory()) {
      const names = (await readdir(p)).filter((n) => /\.ya?ml$/.test(n)).sort();
      files.push(...names.map((n) => join(p, n)));
    } else files.push(p);
  }
  return files;
}

/**
 * Resolves each device with its model (same namespace). A device whose model is missing is an error naming
 * both, unless `skipMissingModels` is set.
 */
export function resolveManifests(loaded: LoadedManifests, opts: { protocol?: string } = {}): ResolvedDevice[] {
  const models = new Map(loaded.models.map((m) => [`${m.metadata.namespace ?? 'default'}/${m.metadata.name}`, m]));
  const out: ResolvedDevice[] = [];
  for (const d of loaded.devices) {
    const ns = d.metadata.namespace ?? 'default';
    const modelName = d.spec.deviceModelRef?.name;
    const model = models.get(`${ns}/${modelName}`);
    if (!model) throw new Error(`device ${deviceId(d)}: DeviceModel ${ns}/${modelName ?? '(none)'} not found`);
    const r = resolveDevice(d, model);
    if (opts.protocol === undefined || r.protocol === opts.protocol) out.push(r);
  }
  return out;
}
