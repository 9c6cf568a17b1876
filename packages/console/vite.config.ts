// Builds the web console (issue 16) into dist/: relative asset paths, so the controller serves it under
// /console/ from the package, with no network at run time (docs/console.md, docs/decisions.md).
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 300 },
});
