// Issue 15 target 4 (`up` ready < 2 s): the edge starts a mapper for every built-in protocol, so loading the
// mapper package and every driver factory must not import a protocol's or a sink's heavy client library;
// those load when a device (or sink) of theirs first connects. A child process records every module Node
// resolves (an ESM resolve hook) and every CommonJS module it loaded (require.cache), then says which of
// the heavy packages it saw.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const HEAVY = [
  'node-opcua-client',
  'node-opcua-certificate-manager',
  '@stoprocent/noble',
  'fast-xml-parser',
  'mysql2',
  '@redis/client',
  '@influxdata/influxdb-client',
  '@opentelemetry/exporter-metrics-otlp-http',
];
const src = (p: string) => new URL(`../src/${p}`, import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`;
const REGISTER = `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hook.mjs')).href)}, import.meta.url, { data: { out: process.env.RESOLVED } });
`;
// import the given modules, then print the heavy packages that were resolved or required
const CHILD = `import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const mode = process.argv[2];
await import(${JSON.stringify(src('index.ts'))});
const { driverFor, BUILT_IN_PROTOCOLS } = await import(${JSON.stringify(src('drivers/registry.ts'))});
for (const p of BUILT_IN_PROTOCOLS) (await driverFor(p)).protocol;
if (mode === 'use') {
  await import(${JSON.stringify(src('drivers/opcua/driver.ts'))});
  await import(${JSON.stringify(src('drivers/onvif/driver.ts'))});
  await import(${JSON.stringify(src('framework/sinks/mysql.ts'))});
}
const seen = [...readFileSync(process.env.RESOLVED, 'utf8').split('\\n'), ...Object.keys(createRequire(import.meta.url).cache)];
const heavy = ${JSON.stringify(HEAVY)}.filter((h) => seen.some((u) => u.replaceAll('\\\\', '/').includes('/node_modules/' + h + '/')));
console.log('HEAVY ' + JSON.stringify(heavy));
`;
writeFileSync(join(dir, 'hook.mjs'), HOOK);
writeFileSync(join(dir, 'register.mjs'), REGISTER);
writeFileSync(join(dir, 'child.mjs'), CHILD);

async function heavyLoaded(mode: 'start' | 'use'): Promise<string[]> {
  const resolved = join(dir, `resolved-${mode}.txt`);
  writeFileSync(resolved, '');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--import', join(dir, 'register.mjs'), join(dir, 'child.mjs'), mode],
    { env: { ...process.env, RESOLVED: resolved }, cwd: new URL('..', import.meta.url).pathname, timeout: 60_000 },
  );
  // node-opcua prints its own warnings on stdout: take our line
  const line = stdout.split('\n').find((l) => l.startsWith('HEAVY '));
  if (!line) throw new Error(`the child printed no HEAVY line: ${stdout}`);
  return JSON.parse(line.slice('HEAVY '.length)) as string[];
}

it('loading the mappers and every driver factory imports no OPC-UA, BLE, ONVIF XML or database client', async () => {
  expect(await heavyLoaded('start')).toEqual([]);
}, 60_000);

it('the check sees those libraries once a driver or sink is used', async () => {
  expect(await heavyLoaded('use')).toEqual(expect.arrayContaining(['node-opcua-client', 'fast-xml-parser', 'mysql2']));
}, 60_000);
