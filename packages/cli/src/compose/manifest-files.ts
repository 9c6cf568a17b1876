// Reads manifest files (a file, or every .yaml/.yml of a directory) as {file, text} pairs, the shape the
// controller's apply API takes, so error lines point into the user's own files.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '@edgetwin/device-controller/cli/common';

export { UsageError };

export interface ManifestFile {
  file: string;
  text: string;
}

export async function listManifestPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(p);
    } catch {
      throw new UsageError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => /\.ya?ml$/i.test(n)).sort();
      out.push(...names.map((n) => join(p, n)));
    } else {
      out.push(p);
    }
  }
  return out;
}

export async function readManifestFiles(paths: string[]): Promise<ManifestFile[]> {
  const files = await listManifestPaths(paths);
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
}
