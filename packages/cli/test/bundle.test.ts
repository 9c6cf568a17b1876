// The production bundle (issue 15, "Shipping"; scripts/build.mjs): it runs the commands users run, finds the
// files the sources find next to them (crds/, examples/), and a call of `get`, `twin` or `describe` loads none
// of the heavy modules (broker, SQLite, OPC-UA, BLE, database clients) that only other commands need, nor the
// manifest validators (ajv) or yaml as it starts (issue 15, target 4).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');

interface Metafile {
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[]; entryPoint?: string }>;
}

/** Third-party packages a chunk can ever load: what it imports, statically or by import() (unless staticOnly), and so on. */
function externalsOf(meta: Metafile, entry: string, staticOnly = false): Set<string> {
  const seen = new Set<string>();
  const out = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of meta.outputs[file]?.imports ?? []) {
      if (staticOnly && imp.kind !== 'import-statement') continue;
      if (imp.external)
        out.add(imp.path.startsWith('@') ? imp.path.split('/').slice(0, 2).join('/') : imp.path.split('/')[0]!);
      else visit(imp.path);
    }
  };
  visit(entry);
  return out;
}

describe('the production bundle (npm run build)', () => {
  let dir: string;
  let meta: Metafile;
  beforeAll(async () => {
    // inside the checkout, as dist/ is: the bundle finds its third-party packages in node_modules
    dir = mkdtempSync(join(ROOT, 'packages/cli/dist-test-'));
    const { buildBundle } = (await import(join(ROOT, 'scripts/build.mjs'))) as {
      buildBundle: (outdir: string) => Promise<Metafile>;
    };
    meta = await buildBundle(dir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a command from the bundle and finds the CRDs next to the sources', async () => {
    const { stderr } = await run(process.execPath, [
      join(dir, 'edgetwin.js'),
      'validate',
      '-f',
      join(ROOT, 'examples/traffic-light/manifests'),
    ]);
    expect(stderr).toMatch(/valid: 0 error\(s\)/);
    const help = await run(process.execPath, [join(dir, 'edgetwin.js'), '--help']);
    for (const cmd of ['apply', 'edge', 'get', 'twin', 'up', 'validate']) expect(help.stdout).toContain(cmd);
    // the examples' apps `up` starts are prebuilt JavaScript beside the bundle: no TypeScript loader needed
    const app = await run(process.execPath, [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(pathToFileURL(join(dir, 'examples/led-raspberrypi/app.js')).href)}); console.log(typeof m.startApp)`,
    ]);
    expect(app.stdout.trim()).toBe('function');
  });

  it('get, twin and describe can load no broker, SQLite, OPC-UA, BLE, Modbus or database client', () => {
    const heavy = [
      'aedes',
      'better-sqlite3',
      'node-opcua',
      'node-opcua-client',
      'node-opcua-server',
      '@stoprocent/noble',
      'modbus-serial',
      'mqtt',
      'ioredis',
      'mysql2',
      'classic-level',
      '@kubernetes/client-node',
    ];
    const chunkOf = (command: string) => {
      const entry = Object.keys(meta.outputs).find((f) => new RegExp(`/${command}-[A-Z0-9]+\\.js$`).test(f));
      if (!entry) throw new Error(`no chunk for the ${command} command in ${Object.keys(meta.outputs).join(', ')}`);
      return entry;
    };
    const main = Object.keys(meta.outputs).find((f) => f.endsWith('/edgetwin.js'))!;
    for (const command of ['get', 'twin', 'describe']) {
      const loaded = new Set([...externalsOf(meta, main, true), ...externalsOf(meta, chunkOf(command))]);
      expect(
        heavy.filter((h) => loaded.has(h)),
        `${command} loads`,
      ).toEqual([]);
    }
    // nor, as they start, the validators (they run on the controller) or the yaml package (only -o yaml loads it)
    for (const command of ['get', 'twin', 'describe']) {
      const started = new Set([...externalsOf(meta, main, true), ...externalsOf(meta, chunkOf(command), true)]);
      expect(
        ['ajv', 'ajv-formats', 'yaml'].filter((h) => started.has(h)),
        `${command} loads at start`,
      ).toEqual([]);
    }
    expect(externalsOf(meta, chunkOf('validate'), true).has('ajv')).toBe(true);
    // the embedded controller (`cloud`, `up`) starts without the Kubernetes client: only its source loads it
    expect(externalsOf(meta, chunkOf('start-cloud'), true).has('@kubernetes/client-node')).toBe(false);
    expect(externalsOf(meta, chunkOf('start-cloud')).has('@kubernetes/client-node')).toBe(true);
    // the check sees what a heavy command does load
    const edge = externalsOf(meta, chunkOf('edge'));
    expect(['aedes', 'better-sqlite3', 'node-opcua-client'].filter((h) => edge.has(h))).toHaveLength(3);
  });

  it('an idle edge loads no validator, YAML parser or certificate maker, nor builds the packet-id cache', async () => {
    // what an edge with no devices holds (issue 15, target 3): a preload lists, on a signal once the edge is up,
    // the third-party packages in require.cache and the size of mqtt-packet's number cache (65,536 Buffers)
    const probe = join(dir, 'probe.cjs');
    const out = join(dir, 'loaded.json');
    writeFileSync(
      probe,
      `process.on('SIGUSR2', () => {
  const pkgs = new Set(Object.keys(require.cache).map((k) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/[^/]*$|node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(k.slice(k.lastIndexOf('node_modules/')))?.slice(1).find(Boolean)).filter(Boolean));
  const numbers = require(${JSON.stringify(join(ROOT, 'node_modules/mqtt-packet/numbers.js'))});
  require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ pkgs: [...pkgs], cached: Object.keys(numbers.cache).length }));
});`,
    );
    const port = await new Promise<number>((res) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => res(p));
      });
    });
    const edge = spawn(
      process.execPath,
      [
        '-r',
        probe,
        join(dir, 'edgetwin.js'),
        'edge',
        '--node',
        'idle',
        '--data-dir',
        join(dir, 'edge-data'),
        '--port',
        String(port),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let text = '';
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`edge not up in 30 s: ${text}`)), 30_000);
        const on = (d: Buffer) => {
          text += d;
          if (text.includes('is up')) {
            clearTimeout(t);
            res();
          }
        };
        edge.stdout!.on('data', on);
        edge.stderr!.on('data', on);
        edge.once('exit', (code) => rej(new Error(`edge exited ${code}: ${text}`)));
      });
      edge.kill('SIGUSR2');
      const loaded = await new Promise<{ pkgs: string[]; cached: number }>((res, rej) => {
        const t0 = Date.now();
        const poll = () => {
          try {
            return res(JSON.parse(readFileSync(out, 'utf8')));
          } catch {
            if (Date.now() - t0 > 10_000) return rej(new Error('the probe wrote nothing'));
            setTimeout(poll, 50);
          }
        };
        poll();
      });
      // the check sees what an edge does load
      expect(loaded.pkgs).toEqual(expect.arrayContaining(['aedes', 'better-sqlite3', 'mqtt-packet']));
      expect(['ajv', 'ajv-formats', 'yaml'].filter((p) => loaded.pkgs.includes(p))).toEqual([]);
      expect(loaded.cached).toBe(0);
    } finally {
      edge.removeAllListeners('exit');
      edge.kill('SIGTERM');
      await new Promise((r) => edge.once('exit', r));
    }
  }, 60_000);
});
