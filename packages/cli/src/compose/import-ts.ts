// Imports a TypeScript file that is not part of the bundle (an example's app.ts, the terminal view), from the
// sources and from the production bundle alike (issue 15, "Shipping"): the bundle runs without tsx's loader,
// so it is registered the first time such a file is refused, and the import tried again (under another URL:
// Node remembers the failed one).
// From the bundle, the examples' files are prebuilt beside it (scripts/build.mjs, dist/examples/): those are
// imported as they are, with no loader (issue 15, target 4: tsx's loader cost `up` ~0.6 s of its start).
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let registered = false;

/** the repository root (this file is packages/cli/src/compose/import-ts.ts in the sources) */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The prebuilt JavaScript of a file under examples/, when this runs from the bundle and it was built. */
function prebuilt(file: string): string | undefined {
  // esbuild replaces this expression with "1" in the bundle (scripts/build.mjs `define`)
  if (process.env.EDGETWIN_BUNDLED !== '1') return undefined;
  const rel = relative(ROOT, file).split('\\').join('/');
  if (!rel.startsWith('examples/') || !rel.endsWith('.ts')) return undefined;
  const built = `${ROOT}packages/cli/dist/${rel.slice(0, -3)}.js`;
  return existsSync(built) ? built : undefined;
}

export async function importTs<T>(file: string): Promise<T> {
  const js = prebuilt(file);
  if (js) return (await import(pathToFileURL(js).href)) as T;
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as T;
  } catch (e) {
    if (registered || (e as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
    const { register } = await import('tsx/esm/api');
    register();
    registered = true;
    return (await import(`${url}?tsx`)) as T;
  }
}
