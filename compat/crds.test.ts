// Compatibility tier (issue 9 §1): our CRDs accept every manifest KubeEdge's CRDs accept: KubeEdge's own
// samples, the project's KubeEdge-format manifests, and random objects generated from KubeEdge's schemas.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { crdSetFromTexts, loadCrdSet, validateManifests } from '../packages/api/src/validate/index.js';
import { readYamlDir, SAMPLES } from '../packages/api/test/support/samples.js';
import { schemaProblems } from '../packages/api/test/support/schema-problems.js';
import { fromSchema } from '../packages/api/test/support/schema-arbitrary.js';
import { expectAcceptsWhatKubeedgeAccepts, locateKubeedgeFixtures } from './kubeedge-fixtures.js';

const fixtures = locateKubeedgeFixtures();
const KINDS = ['Device', 'DeviceModel', 'DeviceStatus'] as const;
const V1BETA1 = 'devices.kubeedge.io/v1beta1';

if (fixtures.skip !== undefined) {
  it.skip(fixtures.skip, () => {});
} else {
  const dir = fixtures.dir;
  describe('compatibility with KubeEdge devices.kubeedge.io/v1beta1 CRDs', () => {
    const kubeedge = crdSetFromTexts(readYamlDir(join(dir, 'crds')));
    const ours = loadCrdSet();
    const theirSamples = readYamlDir(join(dir, 'samples'));
    const ourManifests = [
      ...readYamlDir(SAMPLES),
      ...readYamlDir(new URL('../packages/api/test/fixtures/compat/', import.meta.url).pathname),
    ];

    it('has samples to check', () => {
      expect(theirSamples.length).toBeGreaterThanOrEqual(4);
      expect(ourManifests.length).toBeGreaterThanOrEqual(7);
    });

    for (const { file, text } of [...theirSamples, ...ourManifests]) {
      it(`${file}: KubeEdge's schema and ours both accept it`, () => {
        for (const doc of parseAllDocuments(text)) {
          const obj = doc.toJS() as Record<string, unknown>;
          expect(schemaProblems(kubeedge, obj), `KubeEdge CRD on ${file}`).toEqual([]);
          expect(schemaProblems(ours, obj), `our CRD on ${file}`).toEqual([]);
        }
      });
    }

    it("validates KubeEdge's sample set with every edgetwin check, against both CRD sets", () => {
      for (const crds of [ours, kubeedge]) {
        const r = validateManifests(theirSamples, { crds });
        expect(r.findings).toEqual([]);
        expect(r.objects.map((o) => o.object.kind).sort()).toEqual(['Device', 'Device', 'DeviceModel', 'DeviceModel']);
      }
    });

    for (const kind of KINDS) {
      it(`accepts any ${kind} that KubeEdge's schema accepts (generated from KubeEdge's schema)`, () => {
        expectAcceptsWhatKubeedgeAccepts(kubeedge, ours, V1BETA1, kind);
      });
    }

    it("would catch a CRD stricter than KubeEdge's (the generated check can fail)", () => {
      const text = readFileSync(new URL('../crds/devices_v1beta1_device.yaml', import.meta.url), 'utf8');
      const crd = parseAllDocuments(text)[0]!.toJS();
      crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.nodeName.enum = ['only-this-node'];
      const stricter = crdSetFromTexts([{ file: 'stricter.yaml', text: stringify(crd) }]);
      const theirs = kubeedge.lookup(V1BETA1, 'Device')!;
      const run = fc.check(
        fc.property(fromSchema(theirs.schema.properties!.spec!), (spec) => {
          const obj = { apiVersion: V1BETA1, kind: 'Device', metadata: { name: 'x' }, spec };
          return schemaProblems(stricter, obj).length === 0;
        }),
        { numRuns: 150 },
      );
      expect(run.failed).toBe(true);
    });
  });
}
