// The API server's behaviour that validate reproduces: null pruning, defaults, unknown-field paths, types,
// enums, nullable, int-or-string, free-form fields, ObjectMeta, the status subresource, v1alpha2.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  crdSetFromTexts,
  type Finding,
  formatFinding,
  validateManifests,
  validateObjects,
} from '../src/validate/index.js';
import { readYamlDir, V1ALPHA2 } from './support/samples.js';

const MODEL = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'm' },
  spec: { protocol: 'modbus', properties: [{ name: 'temp', type: 'FLOAT', accessMode: 'ReadWrite' }] },
};
function device(spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name: 'd', namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'm' },
      nodeName: 'edge-1',
      protocol: { protocolName: 'modbus' },
      properties: [{ name: 'temp' }],
      ...spec,
    },
    ...extra,
  };
}
const errors = (fs: Finding[]) => fs.filter((f) => f.severity === 'error');
const brief = (fs: Finding[]) => fs.map((f) => `${f.path}: ${f.message}`);

describe('null pruning', () => {
  it('drops nulls of non-nullable fields before validating, as the API server does', () => {
    const r = validateObjects([
      MODEL,
      device({ protocol: { protocolName: 'modbus', configData: null }, stateReport: null, methods: null }),
    ]);
    expect(r.findings).toEqual([]);
    const spec = (r.objects[1]!.object as { spec: Record<string, unknown> }).spec;
    // protocol.configData is nullable (KubeEdge's counter sample leaves it empty): kept, as the API server keeps it
    expect(spec.protocol).toEqual({ protocolName: 'modbus', configData: null });
    expect('stateReport' in spec || 'methods' in spec).toBe(false);
  });

  it('keeps nulls inside free-form configData', () => {
    const r = validateObjects([MODEL, device({ protocol: { protocolName: 'modbus', configData: { ip: null } } })]);
    expect(r.ok).toBe(true);
    expect((r.objects[1]!.object as { spec: { protocol: unknown } }).spec.protocol).toEqual({
      protocolName: 'modbus',
      configData: { ip: null },
    });
  });

  it('does not prune a null array item: it is a type error', () => {
    const r = validateObjects([MODEL, device({ properties: [{ name: 'temp' }, null] })]);
    expect(brief(errors(r.findings))).toEqual(['spec.properties[1]: Invalid value: null: must be of type object']);
  });

  it('a pruned required field is then missing', () => {
    const r = validateObjects([MODEL, device({ properties: [{ name: 'temp', desired: { value: null } }] })]);
    expect(brief(errors(r.findings))).toEqual(['spec.properties[0].desired.value: Required value']);
  });
});

describe('defaults, unknown fields, types, enums', () => {
  it('applies schema defaults (deviceModelRef.name defaults to "")', () => {
    const r = validateObjects([MODEL, device({ deviceModelRef: {} })]);
    expect(brief(errors(r.findings))).toEqual(['spec.deviceModelRef.name: edgetwin check: device names no model']);
  });

  it('reports unknown fields with their full path and position, at the key', () => {
    const text = stringify(
      device({ properties: [{ name: 'temp', visitors: { protocolName: 'modbus', config: {} } }] }),
    );
    const r = validateManifests([{ file: 'u.yaml', text: `${stringify(MODEL)}---\n${text}` }]);
    const lines = `${stringify(MODEL)}---\n${text}`.split('\n');
    const line = lines.findIndex((l) => l.includes('config:')) + 1;
    const column = lines[line - 1]!.indexOf('config:') + 1;
    expect(errors(r.findings).map(formatFinding)).toEqual([
      `u.yaml:${line}:${column}: Device/default/d: spec.properties[0].visitors.config: unknown field "spec.properties[0].visitors.config" (did you mean "configData"?)`,
    ]);
  });

  it('reports every unknown field, not only the first', () => {
    const r = validateObjects([{ ...device({ a: 1 }), b: 2 }]);
    expect(brief(errors(r.findings)).filter((m) => m.includes('unknown field'))).toEqual([
      'b: unknown field "b"',
      'spec.a: unknown field "spec.a"',
    ]);
  });

  it('checks enums case-sensitively, as the API server does, and suggests the right case', () => {
    const r = validateObjects([
      { ...MODEL, spec: { properties: [{ name: 'x', type: 'float', accessMode: 'readwrite' }] } },
    ]);
    expect(errors(r.findings).map((f) => `${f.path}: ${f.message} (${f.expected})`)).toEqual([
      'spec.properties[0].type: Unsupported value: "float" (did you mean "FLOAT"? supported values: "INT", "FLOAT", "DOUBLE", "STRING", "BOOLEAN", "BYTES", "STREAM")',
      'spec.properties[0].accessMode: Unsupported value: "readwrite" (did you mean "ReadWrite"? supported values: "ReadWrite", "ReadOnly")',
    ]);
  });

  it('refuses a fractional number where an integer is required but accepts 1.0', () => {
    const frac = validateObjects([MODEL, device({ properties: [{ name: 'temp', collectCycle: 1.5 }] })]);
    expect(brief(errors(frac.findings))).toEqual([
      'spec.properties[0].collectCycle: Invalid value: 1.5: must be of type integer',
    ]);
    expect(validateObjects([MODEL, device({ properties: [{ name: 'temp', collectCycle: 1.0 }] })]).ok).toBe(true);
  });

  it('keeps configData free-form: anything goes there', () => {
    const r = validateObjects([
      MODEL,
      device({ protocol: { protocolName: 'modbus', configData: { a: [1, { b: true }], port: '502' } } }),
    ]);
    expect(r.ok).toBe(true);
  });
});

describe('YAML as kubectl reads it (go-yaml v2, YAML 1.1)', () => {
  const text = (value: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: clock
  creationTimestamp: 2026-01-01T00:00:00Z
spec:
  protocol: virtual
  protocolConfigData:
    mac: 11:22:33:44:55:66
  properties:
    - name: alarm
      type: STRING
      accessMode: ReadWrite
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: clock-1
spec:
  deviceModelRef:
    name: clock
  nodeName: edge-1
  protocol:
    protocolName: virtual
  properties:
    - name: alarm
      desired:
        value: ${value}
`;

  it('keeps times and timestamps as strings (go-yaml has no base-60 numbers)', () => {
    const r = validateManifests([{ file: 'clock.yaml', text: text('07:30') }]);
    expect(r.findings).toEqual([]);
    expect(r.objects[1]!.object).toMatchObject({ spec: { properties: [{ desired: { value: '07:30' } }] } });
    expect(r.objects[0]!.object).toMatchObject({
      metadata: { creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { protocolConfigData: { mac: '11:22:33:44:55:66' } },
    });
  });

  it('reads unquoted off and 0x10 as a boolean and a number, and says how to quote them', () => {
    for (const [value, got] of [
      ['off', 'boolean'],
      ['0x10', 'integer'],
    ]) {
      const r = validateManifests([{ file: 'clock.yaml', text: text(value!) }]);
      expect(errors(r.findings).map((f) => f.expected)).toEqual([
        `expected string, got ${got}; quote it as "${value}": unquoted, YAML 1.1 (as kubectl reads it) makes it ${got}`,
      ]);
    }
  });
});

describe('schema extensions, with a CRD of our own making', () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.io' },
    spec: {
      group: 'devices.kubeedge.io',
      names: { kind: 'Widget', plural: 'widgets' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  properties: {
                    port: { 'x-kubernetes-int-or-string': true },
                    note: { type: 'string', nullable: true },
                    size: { type: 'integer', default: 3, minimum: 1 },
                    tags: { type: 'object', additionalProperties: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
  const crds = crdSetFromTexts([{ file: 'widget.yaml', text: stringify(crd) }]);
  const widget = (spec: Record<string, unknown>) => ({
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Widget',
    metadata: { name: 'w' },
    spec,
  });

  it('int-or-string takes either, and nothing else', () => {
    expect(
      validateObjects(
        [widget({ port: 80 }), widget({ port: 'http' })].map((w, i) => ({ ...w, metadata: { name: `w${i}` } })),
        { crds },
      ).ok,
    ).toBe(true);
    const r = validateObjects([widget({ port: true })], { crds });
    expect(brief(r.findings)).toEqual(['spec.port: Invalid value: true: must be an integer or a string']);
  });

  it('nullable keeps null; default fills a missing field; minimum holds', () => {
    const r = validateObjects([widget({ note: null })], { crds });
    expect(r.ok).toBe(true);
    expect((r.objects[0]!.object as unknown as { spec: unknown }).spec).toEqual({ note: null, size: 3 });
    expect(brief(validateObjects([widget({ size: 0 })], { crds }).findings)).toEqual([
      'spec.size: Invalid value: 0: must be >= 1',
    ]);
  });

  it('additionalProperties schemas type every value of a map', () => {
    const r = validateObjects([widget({ tags: { a: 'x', b: 2 } })], { crds });
    expect(brief(r.findings)).toEqual(['spec.tags.b: Invalid value: 2: must be of type string']);
  });
});

describe('object identity and metadata', () => {
  it('puts objects without a namespace in the default namespace, or the one given, and stores it', () => {
    const noNs = { ...device({}), metadata: { name: 'd' } };
    const r = validateObjects([MODEL, noNs], { defaultNamespace: 'plant-a' });
    expect(r.ok).toBe(true);
    expect(r.objects.map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}`)).toEqual([
      'plant-a/m',
      'plant-a/d',
    ]);
    const apart = validateObjects([{ ...MODEL, metadata: { name: 'm', namespace: 'other' } }, noNs], {
      defaultNamespace: 'plant-a',
    });
    expect(brief(errors(apart.findings))).toEqual([
      'spec.deviceModelRef.name: edgetwin check: DeviceModel "m" not found in namespace "plant-a"',
    ]);
    expect(apart.findings[0]!.namespace).toBe('plant-a');
  });

  it('requires a DNS-1123 name and label namespace, and reports unknown metadata fields', () => {
    const r = validateObjects([{ ...MODEL, metadata: { name: 'M.1', namespace: 'a_b', uid: 'x', lables: {} } }]);
    expect(brief(errors(r.findings))).toEqual([
      'metadata.lables: unknown field "metadata.lables"',
      "metadata.name: Invalid value: \"M.1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character, at most 253 characters",
      'metadata.namespace: Invalid value: "a_b": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character, at most 63 characters',
    ]);
  });

  it('skips objects of other groups with a notice, and still validates the rest', () => {
    const r = validateObjects([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, MODEL]);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => `${f.severity} ${f.message}`)).toEqual([
      'notice skipped: v1 ConfigMap is not a devices.kubeedge.io object',
    ]);
  });

  it('drops status where it is a subresource, with a notice (kubectl apply would not write it)', () => {
    const r = validateObjects([MODEL, device({}, { status: { state: 'whatever', twins: 'x' } })]);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => `${f.severity} ${f.path}`)).toEqual(['notice status']);
    expect('status' in r.objects[1]!.object).toBe(false);
  });

  it('refuses an apiVersion the CRDs do not serve, naming the one they do', () => {
    const r = validateObjects([{ ...MODEL, apiVersion: 'devices.kubeedge.io/v1' }]);
    expect(errors(r.findings).map((f) => `${f.message} (${f.expected})`)).toEqual([
      'version v1 of DeviceModel is not served (expected devices.kubeedge.io/v1beta1)',
    ]);
  });
});

describe('v1alpha2 manifests', () => {
  const model = `apiVersion: devices.kubeedge.io/v1alpha2
kind: DeviceModel
metadata:
  name: opcua-model
spec:
  properties:
    - name: temperature
      type:
        int:
          accessMode: ReadOnly
          minimum: 0
          maximum: 200
    - name: switcher
      type:
        boolean:
          accessMode: ReadWrite
`;
  const dev = `apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata:
  name: lamp
spec:
  deviceModelRef:
    name: opcua-model
  protocol:
    opcua:
      url: opc.tcp://127.0.0.1:4840
  nodeSelector:
    nodeSelectorTerms:
      - matchExpressions:
          - key: ''
            operator: In
            values: [edge-1]
  propertyVisitors:
    - propertyName: temperature
      opcua:
        nodeID: ns=2;i=2
    - propertyName: switcher
      opcua:
        nodeID: ns=2;i=3
status:
  twins:
    - propertyName: switcher
      desired:
        value: "false"
`;

  it('converts Device and DeviceModel to v1beta1 with a notice, and validates the result', () => {
    const r = validateManifests([{ file: 'old.yaml', text: `${model}---\n${dev}` }]);
    expect(errors(r.findings)).toEqual([]);
    expect(r.findings.map((f) => `${f.file}:${f.line} ${f.kind} ${f.severity}`)).toEqual([
      'old.yaml:1 DeviceModel notice',
      'old.yaml:18 Device notice',
    ]);
    expect(r.findings[1]!.message).toContain(
      'converted from devices.kubeedge.io/v1alpha2 to devices.kubeedge.io/v1beta1',
    );
    const [m, d] = r.objects.map((o) => o.object);
    expect(m).toMatchObject({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      spec: {
        properties: [
          { name: 'temperature', type: 'INT', accessMode: 'ReadOnly', minimum: '0', maximum: '200' },
          { name: 'switcher', type: 'BOOLEAN' },
        ],
      },
    });
    expect(d).toMatchObject({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      spec: {
        nodeName: 'edge-1',
        protocol: { protocolName: 'opcua', configData: { url: 'opc.tcp://127.0.0.1:4840' } },
        properties: [
          { name: 'temperature', visitors: { protocolName: 'opcua', configData: { nodeID: 'ns=2;i=2' } } },
          { name: 'switcher', desired: { value: 'false' } },
        ],
      },
    });
  });

  it('converts the v1alpha2 BLE sensor tag fixture: protocol block, visitors with their converter, twins', () => {
    const r = validateManifests(readYamlDir(V1ALPHA2).filter((f) => f.file === 'sensortag.yaml'));
    expect(errors(r.findings)).toEqual([]);
    const d = r.objects.find((o) => o.object.kind === 'Device')!.object;
    expect(d).toMatchObject({
      spec: {
        nodeName: 'edge-ble-1',
        protocol: { protocolName: 'bluetooth', configData: { macAddress: 'AA:BB:CC:DD:EE:01' } },
        properties: [
          {
            name: 'temperature',
            visitors: {
              protocolName: 'bluetooth',
              configData: { dataConverter: { startIndex: 1, endIndex: 0, shiftRight: 2 } },
            },
          },
          { name: 'temperature-enable', desired: { value: 'ON' } },
        ],
      },
    });
  });

  it("refuses unknown fields against the v1alpha2 schema before converting (CC2650's mis-indented dataConverter)", () => {
    // KubeEdge's CC2650 example left dataConverter empty and put its fields one level too high; the
    // converter used to carry them into configData, where no one reads them.
    const cc2650 = `apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata:
  name: sensor-tag
spec:
  deviceModelRef:
    name: cc2650
  protocol:
    bluetooth:
      macAddress: "BC:6A:29:AE:CC:96"
  propertyVisitors:
    - propertyName: temperature
      bluetooth:
        characteristicUUID: f000aa0104514000b000000000000000
        dataConverter:
        startIndex: 1
        endIndex: 0
        orderOfOperations:
          - operationType: Multiply
            operationValue: 0.03125
`;
    const r = validateManifests([{ file: 'cc2650.yaml', text: cc2650 }]);
    const known = '(known fields: characteristicUUID, dataConverter, dataWrite)';
    expect(r.findings.map(formatFinding)).toEqual(
      [
        ['16:9', 'startIndex'],
        ['17:9', 'endIndex'],
        ['18:9', 'orderOfOperations'],
      ].map(
        ([at, f]) =>
          `cc2650.yaml:${at}: Device/default/sensor-tag: spec.propertyVisitors[0].bluetooth.${f}: unknown field "spec.propertyVisitors[0].bluetooth.${f}" ${known}`,
      ),
    );
    expect(r.objects).toEqual([]);
  });

  it('applies the edgetwin checks to converted objects too', () => {
    const r = validateManifests([
      { file: 'old.yaml', text: `${model}---\n${dev.replace('value: "false"', 'value: "maybe"')}` },
    ]);
    expect(brief(errors(r.findings))).toEqual([
      'spec.properties[1].desired.value: edgetwin check: desired value: "maybe" is not a boolean (true or false)',
    ]);
  });
});
