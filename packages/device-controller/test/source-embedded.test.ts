// The Source contract (source-suite.ts) on the embedded SQLite store; store-only behaviour (apply actions,
// batches, manifests) is in embedded-store.test.ts.
import { join } from 'node:path';
import { EmbeddedStore } from '../src/sources/embedded/store.js';
import { sourceSuite } from './source-suite.js';
import { tempDir } from './support.js';

sourceSuite('embedded store', async () => {
  const t = tempDir();
  const path = join(t.dir, 'controller.db');
  let current: EmbeddedStore | undefined;
  return {
    namespace: 'default',
    async newSource() {
      current?.close();
      current = new EmbeddedStore({ path });
      return current;
    },
    async put(...objects) {
      current ??= new EmbeddedStore({ path });
      current.apply(objects);
    },
    async remove(kind, name) {
      current!.delete([{ kind, namespace: 'default', name }]);
    },
    async close() {
      current?.close();
      t.cleanup();
    },
  };
});
