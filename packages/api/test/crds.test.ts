// Our CRDs on their own (issue 9 §1: no file from outside the repository): they accept the project's
// KubeEdge-format samples and every-field manifests, are structural, and add what KubeEdge's lack. The
// cross-check against KubeEdge's own CRDs and samples is the compatibility tier, compat/ (npm run test:compat).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type K8sSchema, loadCrdSet, validateManifests } from '../src/validate/index.js';
import { readYamlDir, SAMPLES } from './support/samples.js';
import { schemaProblems } from './support/schema-problems.js';

const ours = loadCrdSet();
const KINDS = ['Device', 'DeviceModel', 'DeviceStatus'] as const;
const V1BETA1 = 'devices.kubeedge.io/v1beta1';

describe('our CRDs', () => {
  const samples = readYamlDir(SAMPLES);
  const extra = readYamlDir(new URL('./fixtures/compat/', import.meta.url).pathname);

  it('has manifests to check', () => {
    expect(samples.map((s) => s.file)).toEqual([
      'counter-device.yaml',
      'counter-model.yaml',
      'temperature-device.yaml',
      'temperature-model.yaml',
    ]);
    expect(extra.length).toBeGreaterThanOrEqual(3);
  });

  for (const { file, text } of [...samples, ...extra]) {
    it(`${file}: our schema accepts it`, () => {
      for (const doc of parseAllDocuments(text)) {
        expect(schemaProblems(ours, doc.toJS() as Record<string, unknown>), file).toEqual([]);
      }
    });
  }

  it('validates the sample set with every edgetwin check', () => {
    const r = validateManifests(samples);
    expect(r.findings).toEqual([]);
    expect(r.objects.map((o) => o.object.kind).sort()).toEqual(['Device', 'Device', 'DeviceModel', 'DeviceModel']);
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
    // the old version, listed but not served, whose schema validate checks v1alpha2 input against
    for (const kind of ['Device', 'DeviceModel']) {
      const old = ours.lookup('devices.kubeedge.io/v1alpha2', kind)!;
      expect(old.served).toBe(false);
      walk(old.schema, `${kind} v1alpha2`);
    }
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
