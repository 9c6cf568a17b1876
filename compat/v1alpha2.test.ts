// Compatibility tier (issue 9 §5): the v1alpha2 schema in our CRDs (listed, not served; what `edgetwin
// validate` checks v1alpha2 input against before converting it) has KubeEdge's v1alpha2 fields and types,
// accepts whatever KubeEdge's v1alpha2 schema accepts, and refuses what it refuses for unknown fields.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdSetFromTexts, type K8sSchema, loadCrdSet } from '../packages/api/src/validate/index.js';
import { readYamlDir } from '../packages/api/test/support/samples.js';
import { schemaProblems } from '../packages/api/test/support/schema-problems.js';
import { expectAcceptsWhatKubeedgeAccepts, locateKubeedgeFixtures } from './kubeedge-fixtures.js';

const fixtures = locateKubeedgeFixtures();
const V1ALPHA2 = 'devices.kubeedge.io/v1alpha2';
/** Where ours is knowingly laxer: dataWrite values may also be byte lists, as KubeEdge's examples write them. */
const LAXER = ['spec.propertyVisitors[].bluetooth.dataWrite{}'];

/** Every field path of a schema with its type (descriptions, defaults and list/map markers aside). */
function fieldTree(s: K8sSchema, path = '', out: string[] = []): string[] {
  if (LAXER.includes(path)) return out;
  const enumText = s.enum ? ` ${JSON.stringify(s.enum)}` : '';
  out.push(
    `${path || '.'}: ${s.type ?? 'any'}${s.format ? `/${s.format}` : ''}${enumText}${s.required ? ` required ${s.required}` : ''}`,
  );
  for (const [k, v] of Object.entries(s.properties ?? {})) fieldTree(v, path ? `${path}.${k}` : k, out);
  if (s.items) fieldTree(s.items, `${path}[]`, out);
  if (typeof s.additionalProperties === 'object') fieldTree(s.additionalProperties, `${path}{}`, out);
  return out.sort();
}

/** The broken-corpus manifest with a dataConverter field one level too high, as in KubeEdge's CC2650 example. */
const misplaced = parse(
  readFileSync(
    new URL('../packages/api/test/fixtures/broken/80-v1alpha2-misplaced-field.yaml', import.meta.url),
    'utf8',
  ),
) as Record<string, unknown>;

if (fixtures.skip !== undefined) {
  it.skip(fixtures.skip, () => {});
} else {
  const dir = fixtures.dir;
  describe("our v1alpha2 schema and KubeEdge's", () => {
    const kubeedge = crdSetFromTexts(readYamlDir(join(dir, 'crds')));
    const ours = loadCrdSet();

    for (const kind of ['Device', 'DeviceModel']) {
      it(`${kind}: the same fields with the same types`, () => {
        const theirs = kubeedge.lookup(V1ALPHA2, kind)!.schema;
        expect(fieldTree(ours.lookup(V1ALPHA2, kind)!.schema)).toEqual(fieldTree(theirs));
      });

      it(`${kind}: accepts anything KubeEdge's v1alpha2 schema accepts (generated from it)`, () => {
        expectAcceptsWhatKubeedgeAccepts(kubeedge, ours, V1ALPHA2, kind);
      });
    }

    it("refuses a misplaced dataConverter field (CC2650's mistake) as KubeEdge's schema does", () => {
      const expected = [
        'spec.propertyVisitors.0.bluetooth.endIndex: unknown field "spec.propertyVisitors[0].bluetooth.endIndex"',
      ];
      expect(schemaProblems(kubeedge, structuredClone(misplaced))).toEqual(expected);
      expect(schemaProblems(ours, structuredClone(misplaced))).toEqual(expected);
    });
  });
}
