// Issue 11, "one home for protocol config": `edgetwin validate` and `apply` run each driver's config.ts
// check (composed by the CLI, since api imports no driver), so a Modbus visitor that only the running mapper
// used to refuse is now a finding at file:line:col before anything reaches a node.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatFinding, validateManifests } from '@edgetwin/api';
import { type RunningController, startController } from '@edgetwin/device-controller';
import { ControllerClient } from '@edgetwin/device-controller/http/client';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const model = (props: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: meter-model
spec:
  protocol: modbus
  properties:
${props}`;

const device = (protocol: string, props: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: meter
spec:
  deviceModelRef:
    name: meter-model
  nodeName: edge-1
  protocol:
    protocolName: ${protocol}
    configData: { ip: 127.0.0.1, port: 5020 }
  properties:
${props}`;

const MODEL = model(`    - name: power
      type: INT
      accessMode: ReadOnly
    - name: setpoint
      type: INT
`);

function check(text: string) {
  const r = validateManifests([{ file: 'm.yaml', text }], { protocols: driverValidators });
  return { ok: r.ok, lines: r.findings.map(formatFinding) };
}

const CORPUS = new URL('./fixtures/driver-config/', import.meta.url).pathname;

describe('validate runs the drivers’ config checks', () => {
  // each file starts with `# expect: line:col: ...`, the one finding it must produce
  for (const file of readdirSync(CORPUS).filter((f) => f.endsWith('.yaml'))) {
    it(`${file}: exactly its expected finding`, () => {
      const text = readFileSync(join(CORPUS, file), 'utf8');
      const expected = /^# expect: (.+)$/m.exec(text)?.[1];
      const r = validateManifests([{ file, text }], { protocols: driverValidators });
      expect(r.findings.map(formatFinding)).toEqual([`${file}:${expected}`]);
    });
  }

  it('places a Modbus visitor error at the key, in the file the user wrote', () => {
    const text = `${MODEL}---\n${device(
      'modbus',
      `    - name: power
      visitors: { protocolName: modbus, configData: { register: HoldingRegisters, offset: 0 } }
    - name: setpoint
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 1 } }
      desired: { value: "20" }
`,
    )}`;
    const r = check(text);
    expect(r.ok).toBe(false);
    expect(r.lines).toEqual([
      'm.yaml:27:65: Device/default/meter: spec.properties[0].visitors.configData.register: edgetwin check: modbus: register "HoldingRegisters" is not one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister',
      'm.yaml:29:65: Device/default/meter: spec.properties[1].visitors.configData.register: edgetwin check: modbus: register InputRegister is read-only on every Modbus device, but the property has a desired value (use HoldingRegister or CoilRegister to write)',
    ]);
  });

  it('a ReadWrite property on an InputRegister without a desired value is a notice, not an error', () => {
    const text = `${MODEL}---\n${device(
      'modbus',
      `    - name: setpoint
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 1 } }
`,
    )}`;
    const r = check(text);
    expect(r.ok).toBe(true);
    expect(r.lines.join('\n')).toMatch(/notice: edgetwin check: modbus: register InputRegister is read-only/);
  });

  it('checks the framework transforms (scale) for every protocol, and leaves unknown protocols alone', () => {
    const bad = check(
      `${MODEL}---\n${device('virtualProtocol', '    - name: power\n      visitors: { protocolName: virtualProtocol, configData: { scale: 0 } }\n')}`,
    );
    expect(bad.lines.join('\n')).toMatch(/configData\.scale: edgetwin check: virtualProtocol: scale must not be 0/);
    const foreign = check(
      `${MODEL}---\n${device('acme-bus', '    - name: power\n      visitors: { protocolName: acme-bus, configData: { anything: 1 } }\n')}`,
    );
    expect(foreign.ok).toBe(true);
  });
});

describe('apply runs them in the controller the CLI composes', () => {
  let dir: string;
  let ctl: RunningController;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-apply-'));
    ctl = await startController({
      source: 'embedded',
      dbPath: join(dir, 'c.db'),
      httpPort: 0,
      protocols: driverValidators,
    });
  });
  afterAll(async () => {
    await ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a write to an InputRegister and stores nothing', async () => {
    const client = new ControllerClient(ctl.url, { token: ctl.apiToken });
    const text = `${MODEL}---\n${device(
      'modbus',
      '    - name: setpoint\n      visitors: { protocolName: modbus, configData: { register: InputRegister } }\n      desired: { value: "3" }\n',
    )}`;
    await expect(client.apply([{ file: 'meter.yaml', text }])).rejects.toThrow(
      /meter\.yaml:27:65: Device\/default\/meter: spec\.properties\[0\]\.visitors\.configData\.register: .*read-only on every Modbus device/,
    );
    expect(await client.devices()).toEqual([]);
    expect(await client.models()).toEqual([]);
  });
});

describe('KubeEdge v1alpha2 OPC-UA manifests (reference appendix B shape)', () => {
  // written here in the v1alpha2 shape of KubeEdge's only OPC-UA sample: protocol.opcua + common
  const v1alpha2 = `apiVersion: devices.kubeedge.io/v1alpha2
kind: DeviceModel
metadata: { name: plc-model, namespace: default }
spec:
  properties:
    - name: temperature
      type: { int: { accessMode: ReadOnly, defaultValue: 1 } }
    - name: switcher
      type: { boolean: { accessMode: ReadWrite } }
---
apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata: { name: plc, namespace: default }
spec:
  deviceModelRef: { name: plc-model }
  protocol:
    opcua:
      url: opc.tcp://192.0.2.10:4840
      userName: operator
      password: /ca/pass
      certificate: /ca/clientcert.pem
      privateKey: /ca/clientkey.pem
      securityMode: Sign
      securityPolicy: Basic256Sha256
    common:
      customizedValues: { remoteCertificate: /ca/servercert.pem }
  nodeSelector:
    nodeSelectorTerms: [{ matchExpressions: [{ key: '', operator: In, values: [edge-1] }] }]
  propertyVisitors:
    - { propertyName: temperature, opcua: { nodeID: "ns=2;i=2" } }
    - { propertyName: switcher, opcua: { nodeID: "ns=2;i=3" } }
`;

  it('converts and passes the OPC-UA driver check, keeping every KubeEdge key', () => {
    const r = validateManifests([{ file: 'opcua.yaml', text: v1alpha2 }], { protocols: driverValidators });
    expect(r.findings.filter((f) => f.severity === 'error').map(formatFinding)).toEqual([]);
    const device = r.objects.find((o) => o.object.kind === 'Device')?.object as unknown as {
      spec: { protocol: { protocolName: string; configData: Record<string, unknown> } };
    };
    expect(device.spec.protocol.protocolName).toBe('opcua');
    expect(device.spec.protocol.configData).toMatchObject({
      url: 'opc.tcp://192.0.2.10:4840',
      password: '/ca/pass',
      securityMode: 'Sign',
      remoteCertificate: '/ca/servercert.pem',
    });
  });
});
