// The project's own example manifests pass validate: a demo must never start from a manifest the cluster
// or the embedded store would refuse.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFinding, validateManifests } from '../src/validate/index.js';
import { REPO_ROOT } from './support/cli.js';

const examplesDir = join(REPO_ROOT, 'examples');
const manifestDirs = existsSync(examplesDir)
  ? readdirSync(examplesDir)
      .map((e) => join(examplesDir, e, 'manifests'))
      .filter((d) => existsSync(d))
  : [];

describe('example manifests', () => {
  it('there are examples to check', () => {
    expect(manifestDirs.length).toBeGreaterThan(0);
  });

  for (const dir of manifestDirs) {
    it(`${dir.slice(REPO_ROOT.length)} validates`, () => {
      const files = readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }));
      const r = validateManifests(files);
      expect(r.findings.filter((f) => f.severity === 'error').map(formatFinding)).toEqual([]);
      expect(r.objects.length).toBeGreaterThan(0);
    });
  }
});
