// Compatibility tier (issue 9 §1): KubeEdge's own sample manifests pass `edgetwin validate` unchanged, and
// the project's KubeEdge-format samples (what the default suite runs on) say what KubeEdge's say, field for
// field, apart from prose and the device's address; so the default suite tests what KubeEdge users write.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../packages/api/test/support/cli.js';
import { readYamlDir, SAMPLE_FILES, SAMPLES } from '../packages/api/test/support/samples.js';
import { locateKubeedgeFixtures } from './kubeedge-fixtures.js';

const fixtures = locateKubeedgeFixtures();

type Obj = Record<string, unknown>;

/** The object without what may differ: descriptions, the default namespace, the device's IP address. */
function facts(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => facts(v));
  if (typeof value !== 'object' || value === null) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value as Obj)) {
    if (k === 'description' || (k === 'namespace' && v === 'default') || (key === 'configData' && k === 'ip')) continue;
    out[k] = facts(v, k);
  }
  return out;
}

if (fixtures.skip !== undefined) {
  it.skip(fixtures.skip, () => {});
} else {
  const dir = join(fixtures.dir, 'samples');
  describe("KubeEdge's own samples", () => {
    it('pass edgetwin validate with no finding', async () => {
      const r = await runCli(['validate', '-f', dir]);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('4 valid object(s) in 4 file(s)');
    });

    it("match the project's own samples in every field the tests rely on", () => {
      const byName = (files: Array<{ text: string }>) =>
        new Map(
          files.map(({ text }) => [
            `${(parse(text) as Obj).kind}/${((parse(text) as Obj).metadata as Obj).name}`,
            parse(text) as Obj,
          ]),
        );
      const theirs = byName(readYamlDir(dir));
      const ours = byName(readYamlDir(SAMPLES));
      expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
      expect(ours.size).toBe(Object.keys(SAMPLE_FILES).length);
      for (const [name, obj] of ours) expect(facts(obj), name).toEqual(facts(theirs.get(name)));
    });
  });
}
