// Which files a directory given to -f contributes (issue 9 §5: `validate -f examples` found none): every
// manifest below it at any depth, sorted; hidden folders and node_modules skipped; symlink loops read once;
// a bound on the number of files.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { listManifestFiles, ManifestFilesError } from '../src/validate/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function tree(files: string[]) {
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), 'x');
  }
}
const rel = (files: string[]) => files.map((f) => relative(dir, f));

it('reads manifests at any depth, sorted, and skips other files, hidden folders and node_modules', () => {
  tree([
    'z.yaml',
    'parking/manifests/bay.yml',
    'parking/manifests/deep/er/model.json',
    'parking/app.ts',
    'led/manifests/led.yaml',
    '.edgetwin/state.yaml',
    'node_modules/pkg/package.json',
  ]);
  expect(rel(listManifestFiles(dir))).toEqual([
    'led/manifests/led.yaml',
    'parking/manifests/bay.yml',
    'parking/manifests/deep/er/model.json',
    'z.yaml',
  ]);
  expect(rel(listManifestFiles(dir, { recursive: false }))).toEqual(['z.yaml']);
});

it('reads a folder reached twice through a symlink loop once', () => {
  tree(['a/one.yaml']);
  symlinkSync(dir, join(dir, 'a', 'loop'));
  expect(rel(listManifestFiles(dir))).toEqual(['a/one.yaml']);
});

it('stops with an error naming the bound past the maximum number of files', () => {
  tree(['1.yaml', '2.yaml', 'sub/3.yaml']);
  expect(() => listManifestFiles(dir, { max: 2 })).toThrow(ManifestFilesError);
  expect(() => listManifestFiles(dir, { max: 2 })).toThrow(/holds more than 2 manifest files/);
});
