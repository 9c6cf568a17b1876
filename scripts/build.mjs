// npm run build: the production bundle of the edgetwin command (issue 15, "Shipping"), for deploy/ (systemd,
// Docker) and `npx edgetwin` when present. Development needs no build: bin/edgetwin.js runs the sources with tsx.
//
// One ESM entry (packages/cli/dist/edgetwin.js) with code splitting: every command file is its own chunk,
// loaded only when that command runs (commands/index.ts imports them on demand), and so is every other
// `import()` in the sources (the OPC-UA simulator, protocol drivers...). Our workspace packages are bundled;
// third-party packages stay in node_modules (native addons, files they read at run time). Source maps are
// written beside the chunks, used when Node runs with --enable-source-maps (off by default: a few MiB of memory).
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const defaultOutdir = resolve(root, 'packages/cli/dist');

/**
 * Keeps `import.meta.url` meaning the source file it is written in: sources find files next to them
 * (crds/, examples/, package.json) relative to their own path, which bundling would move into dist/.
 * Rewritten as a URL relative to the chunk, so the bundle still works wherever the tree is copied.
 */
const sourceUrls = (outdir) => ({
  name: 'edgetwin-source-urls',
  setup(b) {
    b.onLoad({ filter: /[/\\]packages[/\\][^/\\]+[/\\]src[/\\].*\.ts$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      let contents = await readFile(args.path, 'utf8');
      if (contents.includes('import.meta.url')) {
        const rel = relative(outdir, args.path).split('\\').join('/');
        contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
      }
      return { contents, loader: 'ts' };
    });
  },
});

/** Our own packages are bundled; every other bare import stays external (resolved in node_modules at run time). */
const externals = {
  name: 'edgetwin-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@edgetwin/') || args.path.startsWith('node:')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

/**
 * The TypeScript files `up` imports beside the commands (each example's app.ts, the terminal view's renderer):
 * built into dist/examples/ too, so the bundle's `up` loads them as JavaScript instead of registering tsx's
 * loader (a worker thread compiling them and our sources again: ~0.6 s of `up`'s start, issue 15 target 4).
 * compose/import-ts.ts looks for them there.
 */
function exampleEntries() {
  const dir = resolve(root, 'examples');
  // an image that copies no examples (deploy/docker/Dockerfile) builds without them: `up` is not run there
  if (!existsSync(resolve(dir, 'shared/terminal-render.ts'))) return {};
  const entries = { 'examples/shared/terminal-render': 'examples/shared/terminal-render.ts' };
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory() && readdirSync(resolve(dir, e.name)).includes('app.ts'))
      entries[`examples/${e.name}/app`] = `examples/${e.name}/app.ts`;
  return entries;
}

/** Builds the bundle into outdir (default packages/cli/dist); returns esbuild's metafile. */
export async function buildBundle(outdir = defaultOutdir) {
  rmSync(outdir, { recursive: true, force: true });
  const t0 = performance.now();
  const result = await build({
    absWorkingDir: root,
    entryPoints: { edgetwin: 'packages/cli/src/main.ts', ...exampleEntries() },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    // every chunk beside the entry (the import.meta.url rewrite above is relative to outdir); named after
    // what it holds, for profiles and for `ls dist`
    chunkNames: '[name]-[hash]',
    // import-ts.ts takes the prebuilt examples only when it runs from the bundle
    define: { 'process.env.EDGETWIN_BUNDLED': '"1"' },
    entryNames: '[dir]/[name]',
    metafile: true,
    logLevel: 'warning',
    plugins: [externals, sourceUrls(outdir)],
    banner: {
      js: '// edgetwin production bundle: made by `npm run build` (scripts/build.mjs) from packages/*/src; do not edit.',
    },
  });
  const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'));
  const bytes = files.reduce((n, f) => n + statSync(resolve(root, f)).size, 0);
  writeFileSync(
    resolve(outdir, 'build-info.json'),
    `${JSON.stringify({ builtAt: new Date().toISOString(), files: files.length, bytes }, null, 2)}\n`,
  );
  process.stderr.write(
    `built ${relative(root, outdir)}/edgetwin.js: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB, ${Math.round(performance.now() - t0)} ms\n`,
  );
  return result.metafile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildBundle();
