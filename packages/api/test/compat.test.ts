// Our CRDs accept every manifest KubeEdge's CRDs accept: KubeEdge's samples, hand-written manifests that use
// every v1beta1 field, and random objects generated from KubeEdge's own schemas.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { crdSetFromTexts, type K8sSchema, loadCrdSet, validateManifests } from '../src/validate/index.js';
import { KUBEEDGE_FIXTURES } from './support/cli.js';
import { fromSchema } from './support/schema-arbitrary.js';

const kubeedgeCrdDir = join(KUBEEDGE_FIXTURES, 'crds');
const kubeedge = crdSetFromTexts(
  readdirSync(kubeedgeCrdDir).map((f) => ({ file: f, text: readFileSync(join(kubeedgeCrdDir, f), 'utf8') })),
);
const ours = loadCrdSet();
const KINDS = ['Device', 'DeviceModel', 'DeviceStatus'] as const;
const V1BETA1 = 'devices.kubeedge.io/v1beta1';

function readDir(dir: string) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }));
}

/** Schema-level problems only (what the API server checks), for one CRD set. */
function schemaProblems(crds: typeof ours, obj: Record<string, unknown>): string[] {
  const crd = crds.lookup(String(obj.apiVersion), String(obj.kind));
  if (crd === undefined) return [`no CRD for ${obj.apiVersion} ${obj.kind}`];
  const copy = structuredClone(obj);
  if (crd.statusSubresource) delete copy.status;
  return crd
    .validator()
    .validate(copy)
    .map((p) => `${p.path.join('.')}: ${p.message}`);
}

describe('compatibility with KubeEdge devices.kubeedge.io/v1beta1', () => {
  const samples = readDir(join(KUBEEDGE_FIXTURES, 'samples'));
  const extra = readDir(new URL('./fixtures/compat/', import.meta.url).pathname);

  it('has samples to check', () => {
    expect(samples.length).toBeGreaterThanOrEqual(4);
    expect(extra.length).toBeGreaterThanOrEqual(3);
  });

  for (const { file, text } of [...samples, ...extra]) {
    it(`${file}: KubeEdge's schema and ours both accept it`, () => {
      for (const doc of parseAllDocuments(text)) {
        const obj = doc.toJS() as Record<string, unknown>;
        expect(schemaProblems(kubeedge, obj), `KubeEdge CRD on ${file}`).toEqual([]);
        expect(schemaProblems(ours, obj), `our CRD on ${file}`).toEqual([]);
      }
    });
  }

  it('validates the sample set with every edgetwin check, against both CRD sets', () => {
    for (const crds of [ours, kubeedge]) {
      const r = validateManifests(samples, { crds });
      expect(r.findings).toEqual([]);
      expect(r.objects.map((o) => o.object.kind).sort()).toEqual(['Device', 'Device', 'DeviceModel', 'DeviceModel']);
    }
  });

  for (const kind of KINDS) {
    it(`accepts any ${kind} that KubeEdge's schema accepts (generated from KubeEdge's schema)`, () => {
      const theirs = kubeedge.lookup(V1BETA1, kind)!;
      const spec = theirs.schema.properties?.spec ?? { type: 'object' };
      const status = theirs.schema.properties?.status;
      const arb = fc.record(
        {
          spec: fromSchema(spec),
          ...(status !== undefined ? { status: fromSchema(status) } : {}),
        },
        { requiredKeys: ['spec'] },
      );
      fc.assert(
        fc.property(arb, (body) => {
          const obj = { apiVersion: V1BETA1, kind, metadata: { name: 'x' }, ...(body as object) };
          expect(schemaProblems(kubeedge, obj)).toEqual([]);
          expect(schemaProblems(ours, obj)).toEqual([]);
        }),
        { numRuns: 150 },
      );
    });
  }

  it("would catch a CRD stricter than KubeEdge's (the generated check can fail)", () => {
    const text = readFileSync(new URL('../../../crds/devices_v1beta1_device.yaml', import.meta.url), 'utf8');
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

  it('validates our own every-field manifests as a set with only notices', () => {
    const r = validateManifests(extra);
    expect(r.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(r.objects).toHaveLength(3);
  });

  it('our schemas are structural, as apiextensions.k8s.io/v1 requires', () => {
    const problems: string[] = [];
    const walk = (node: K8sSchema, path: string) => {
      if (
        node.type === undefined &&
        !node['x-kubernetes-int-or-string'] &&
        !node['x-kubernetes-preserve-unknown-fields']
      )
        problems.push(`${path}: no type`);
      if (node.properties !== undefined && node.additionalProperties !== undefined)
        problems.push(`${path}: properties and additionalProperties together`);
      if (node.default !== undefined && path.includes('metadata')) problems.push(`${path}: default under metadata`);
      for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}.${k}`);
      if (node.items !== undefined) walk(node.items, `${path}[]`);
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`);
    };
    for (const kind of KINDS) walk(ours.lookup(V1BETA1, kind)!.schema, kind);
    expect(problems).toEqual([]);
  });

  it('adds what KubeEdge lacks: status subresource, printer columns, short names', () => {
    const crdText = (f: string) =>
      parseAllDocuments(readFileSync(new URL(`../../../crds/${f}`, import.meta.url), 'utf8'))[0]!.toJS();
    const device = crdText('devices_v1beta1_device.yaml');
    const v = device.spec.versions[0];
    expect(v.subresources).toEqual({ status: {} });
    expect(v.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual([
      'Node',
      'Model',
      'Protocol',
      'State',
      'Age',
    ]);
    expect(device.spec.names.shortNames).toEqual(['dev', 'devs']);
    expect(crdText('devices_v1beta1_devicemodel.yaml').spec.names.shortNames).toEqual(['dm']);
    expect(ours.lookup(V1BETA1, 'DeviceStatus')!.statusSubresource).toBe(true);
    expect(ours.versions('devices.kubeedge.io', 'Device')).toEqual(['v1beta1']);
  });
});
