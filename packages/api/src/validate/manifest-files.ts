// Which files a directory given to `-f` contributes (issue 9 §5: `edgetwin validate -f examples` found
// nothing, the manifests being two levels down). One rule for validate and apply: every *.yaml, *.yml and
// *.json file below the directory, at any depth, sorted; hidden directories and node_modules are skipped,
// a directory reached twice through symlinks is read once, and past MAX_MANIFEST_FILES the walk stops
// with an error rather than reading a whole disk.

import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_EXT = /\.(ya?ml|json)$/i;
export const MAX_MANIFEST_FILES = 10_000;

export class ManifestFilesError extends Error {
  constructor(
    readonly code: 'too-many-files' | 'unreadable',
    message: string,
  ) {
    super(message);
    this.name = 'ManifestFilesError';
  }
}

const SKIPPED_DIR = (name: string) => name.startsWith('.') || name === 'node_modules';

/**
 * The manifest files below `dir`, sorted by path. With `recursive: false` only the directory's own files
 * (kubectl's default), for callers that want one level.
 */
export function listManifestFiles(dir: string, opts: { recursive?: boolean; max?: number } = {}): string[] {
  const recursive = opts.recursive ?? true;
  const max = opts.max ?? MAX_MANIFEST_FILES;
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (path: string) => {
    let real: string;
    let entries: string[];
    try {
      real = realpathSync(path);
      entries = readdirSync(path).sort();
    } catch (e) {
      throw new ManifestFilesError('unreadable', `cannot read directory ${path}: ${(e as Error).message}`);
    }
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of entries) {
      const child = join(path, entry);
      const st = statSync(child, { throwIfNoEntry: false });
      if (st?.isDirectory()) {
        if (recursive && !SKIPPED_DIR(entry)) walk(child);
      } else if (st?.isFile() && MANIFEST_EXT.test(entry)) {
        if (out.length >= max)
          throw new ManifestFilesError(
            'too-many-files',
            `${dir} holds more than ${max} manifest files: name the folders to read, or a narrower one`,
          );
        out.push(child);
      }
    }
  };
  walk(dir);
  return out;
}
