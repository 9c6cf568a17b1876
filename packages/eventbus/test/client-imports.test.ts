// Mapper processes import @edgetwin/eventbus/client: it must not drag the broker (aedes, LevelDB) or
// prom-client into them. Follows the static imports of src/client.ts.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

async function importClosure(file: string, seen = new Set<string>(), packages = new Set<string>()) {
  if (seen.has(file)) return packages;
  seen.add(file);
  const text = await readFile(file, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
    const typeOnly = Boolean(m[1]);
    const spec = m[2]!;
    if (spec.startsWith('.')) await importClosure(join(dirname(file), spec.replace(/\.js$/, '.ts')), seen, packages);
    else if (!typeOnly) packages.add(spec);
  }
  return packages;
}

describe('@edgetwin/eventbus/client', () => {
  it('imports at run time only mqtt and node built-ins', async () => {
    const packages = await importClosure(join(SRC, 'client.ts'));
    expect([...packages].filter((p) => !p.startsWith('node:')).sort()).toEqual(['mqtt']);
  });
});
