// Imports a TypeScript file that is not part of the bundle (an example's app.ts, the terminal view), from the
// sources and from the production bundle alike (issue 15, "Shipping"): the bundle runs without tsx's loader,
// so it is registered the first time such a file is refused, and the import tried again (under another URL:
// Node remembers the failed one).
import { pathToFileURL } from 'node:url';

let registered = false;

export async function importTs<T>(file: string): Promise<T> {
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
