// The validation API: the broken corpus file by file, sizes, and what callers (apply) rely on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatFinding, MAX_OBJECT_BYTES, validateManifests, validateObjects } from '../src/validate/index.js';
import type { Device, DeviceModel } from '../src/types.js';
import { bigDevice, manyDevices } from './support/big.js';
import { brokenCases } from './support/corpus.js';

const errorsOf = (r: ReturnType<typeof validateManifests>) =>
  r.findings.filter((f) => f.severity === 'error').map(formatFinding);

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: lamp-model
spec:
  protocol: gpio
  properties:
    - name: power
      type: BOOLEAN
      accessMode: ReadWrite
`;
const DEVICE = `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: lamp
spec:
  deviceModelRef:
    name: lamp-model
  nodeName: pi-1
  protocol:
    protocolName: gpio
  properties:
    - name: power
      desired:
        value: "true"
`;

describe('validateManifests on the broken corpus', () => {
  for (const c of brokenCases()) {
    it(`${c.file}: exactly its expected error`, () => {
      const r = validateManifests([{ file: c.file, text: c.text }]);
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toEqual([`${c.file}:${c.expect}`]);
    });
  }

  it('never throws on generated objects or text, and every finding has a position and a message', () => {
    const device = parse(DEVICE);
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.anything({ maxDepth: 4 }).map((v) => stringify(v) ?? ''),
      // a real Device with one field replaced by anything
      fc
        .tuple(fc.constantFrom('spec', 'metadata', 'apiVersion', 'kind', 'status'), fc.anything({ maxDepth: 3 }))
        .map(([k, v]) => stringify({ ...device, [k]: v })),
    );
    fc.assert(
      fc.property(arb, (text) => {
        const r = validateManifests([{ file: 'f.yaml', text }]);
        for (const f of r.findings) {
          expect(f.line).toBeGreaterThanOrEqual(1);
          expect(f.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a zero-byte file is an error, not a crash', () => {
    const r = validateManifests([{ file: 'empty.yaml', text: '' }]);
    expect(errorsOf(r)).toEqual([
      'empty.yaml:1:1: -/-/-: -: file holds no objects (expected at least one YAML document with apiVersion, kind and metadata)',
    ]);
  });

  it('never throws, whatever the text', () => {
    const texts = [
      '{',
      ']]]',
      '- a\n- b',
      'a: &x [*x]',
      '"\\u00zz"',
      'kind: Device\napiVersion: 3',
      '!!binary AAAA',
      '? [a]\n: b',
    ];
    for (const text of texts) expect(() => validateManifests([{ file: 'x.yaml', text }])).not.toThrow();
  });
});

describe('size', () => {
  // generous timeout: parsing 5 MB of YAML takes seconds, more on a loaded CI machine
  it('refuses a 5 MB object the API server could not store, naming the limit', { timeout: 90_000 }, () => {
    const text = bigDevice(5 * 1024 * 1024);
    expect(text.length).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    const r = validateManifests([{ file: 'big.yaml', text }]);
    const errors = errorsOf(r);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(
        `^big\\.yaml:1:1: Device/default/big: -: object is \\d+ bytes, too large for the API server \\(expected at most ${MAX_OBJECT_BYTES} bytes`,
      ),
    );
  });

  it('warns that client-side kubectl apply cannot take an object over 256 KiB, without failing it', () => {
    const big = parse(bigDevice(400 * 1024));
    const names = (big.spec.properties as Array<{ name: string }>).map((p) => ({
      name: p.name,
      type: 'INT',
      accessMode: 'ReadOnly',
    }));
    const model = {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: 'big-model' },
      spec: { protocol: 'modbus', properties: names },
    };
    const r = validateObjects([big, model]);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => `${f.kind} ${f.severity} ${f.message.split(':')[0]}`)).toEqual([
      expect.stringMatching(/^Device notice object is \d+ bytes$/),
    ]);
    expect(r.findings[0]!.expected).toBe(
      'use `kubectl apply --server-side` or `kubectl create` for objects this large',
    );
  });

  it('accepts a file of thousands of small valid objects', () => {
    const r = validateManifests([{ file: 'many.yaml', text: manyDevices(1024 * 1024) }]);
    expect(errorsOf(r)).toEqual([]);
    expect(r.objects.length).toBeGreaterThan(4_000);
  });
});

describe('validating a set', () => {
  it('resolves a model defined in another file of the set', () => {
    const r = validateManifests([
      { file: 'device.yaml', text: DEVICE },
      { file: 'model.yaml', text: MODEL },
    ]);
    expect(r.findings).toEqual([]);
    expect(r.objects.map((o) => `${o.file}:${o.line} ${o.object.kind}`)).toEqual([
      'device.yaml:1 Device',
      'model.yaml:1 DeviceModel',
    ]);
  });

  it('refuses a device whose model is in another namespace', () => {
    const r = validateManifests([
      {
        file: 'a.yaml',
        text: `${MODEL.replace('name: lamp-model', 'name: lamp-model\n  namespace: other')}---\n${DEVICE}`,
      },
    ]);
    expect(errorsOf(r)).toEqual([
      'a.yaml:19:11: Device/default/lamp: spec.deviceModelRef.name: edgetwin check: DeviceModel "lamp-model" not found in namespace "default" (expected a DeviceModel of that name in the same namespace, in the files validated together or already applied)',
    ]);
  });

  it('uses existingModels for devices applied alone, and the set wins over them', () => {
    const model = validateManifests([{ file: 'm.yaml', text: MODEL }]).objects[0]!.object as DeviceModel;
    expect(validateObjects([{ ...parseOne(DEVICE) }], { existingModels: [model] }).ok).toBe(true);
    const readOnly: DeviceModel = structuredClone(model);
    readOnly.spec.properties![0]!.accessMode = 'ReadOnly';
    const r = validateObjects([parseOne(DEVICE)], { existingModels: [readOnly] });
    expect(r.findings.map((f) => f.message)).toEqual([
      'edgetwin check: property "power" is ReadOnly in its model but has a desired value',
    ]);
    expect(r.findings[0]).toMatchObject({ file: '', line: 0, column: 0, path: 'spec.properties[0].desired' });
    const both = validateObjects([parseOne(DEVICE), parseOne(MODEL)], { existingModels: [readOnly] });
    expect(both.ok).toBe(true);
  });

  it('refuses a model change that would break a stored device, unless the set replaces the device', () => {
    const stored = parseOne(DEVICE) as unknown as Device;
    const renamed = MODEL.replace('name: power', 'name: on-off');
    const r = validateManifests([{ file: 'model.yaml', text: renamed }], { existingDevices: [stored] });
    expect(errorsOf(r)).toEqual([
      'model.yaml:1:1: DeviceModel/default/lamp-model: -: edgetwin check: stored Device default/lamp would break: property "power" is not a property of DeviceModel "lamp-model" at spec.properties[0].name (expected one of "on-off")',
    ]);
    expect(r.objects).toEqual([]);
    const together = validateManifests(
      [
        { file: 'model.yaml', text: renamed },
        { file: 'device.yaml', text: DEVICE.replace('name: power', 'name: on-off') },
      ],
      { existingDevices: [stored] },
    );
    expect(errorsOf(together)).toEqual([]);
    expect(validateManifests([{ file: 'model.yaml', text: MODEL }], { existingDevices: [stored] }).ok).toBe(true);
  });

  it("returns objects as the API server would store them and leaves the caller's objects alone", () => {
    const input = parseOne(DEVICE.replace('  nodeName: pi-1\n', '  nodeName: pi-1\n  stateReport: null\n'));
    const before = structuredClone(input);
    const r = validateObjects([input, parseOne(MODEL)]);
    expect(input).toEqual(before);
    const dev = r.objects[0]!.object as { spec: Record<string, unknown> };
    expect('stateReport' in dev.spec).toBe(false);
  });

  it('validates each item of a kind: List, with positions inside the list', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [parse(MODEL), { ...parse(DEVICE), extra: 1 }] };
    const text = stringify(list);
    const r = validateManifests([{ file: 'list.yaml', text }]);
    const line = text.split('\n').findIndex((l) => l.includes('extra: 1')) + 1;
    expect(errorsOf(r)).toEqual([
      `list.yaml:${line}:5: Device/default/lamp: extra: unknown field "extra" (known fields: apiVersion, kind, metadata, spec, status)`,
    ]);
    expect(r.objects.map((o) => o.object.kind)).toEqual(['DeviceModel']);
  });

  it('reports a device with a model that is itself invalid once, at the model', () => {
    const r = validateManifests([
      { file: 'x.yaml', text: `${MODEL.replace('type: BOOLEAN', 'type: bool')}---\n${DEVICE}` },
    ]);
    expect(errorsOf(r)).toHaveLength(1);
    expect(errorsOf(r)[0]).toContain(
      'DeviceModel/default/lamp-model: spec.properties[0].type: Unsupported value: "bool"',
    );
  });
});

function parseOne(text: string): Record<string, unknown> {
  return parse(text) as Record<string, unknown>;
}

describe('spec.nodeName (issue 14: a topic level of the cloud link)', () => {
  it('refuses a node name that could not be a topic level (a space disconnects the publisher on NATS)', () => {
    for (const bad of ['pi 1', 'pi/1', 'pi+', '#']) {
      const r = validateManifests([
        { file: 'm.yaml', text: MODEL },
        { file: 'd.yaml', text: DEVICE.replace('nodeName: pi-1', `nodeName: "${bad}"`) },
      ]);
      expect(errorsOf(r).join('\n'), bad).toMatch(
        /d\.yaml:\d+:\d+: Device\/default\/lamp: spec\.nodeName: .* is not a node name/,
      );
    }
    const ok = validateManifests([
      { file: 'm.yaml', text: MODEL },
      { file: 'd.yaml', text: DEVICE.replace('nodeName: pi-1', 'nodeName: ip-10-0-0-1.ec2.internal') },
    ]);
    expect(errorsOf(ok)).toEqual([]);
  });
});
