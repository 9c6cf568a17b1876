// edgetwin validate through the real command: exit codes and the exact finding lines users see.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { BROKEN_DIR, BROKEN_DIR_FROM_ROOT, brokenCases } from './support/corpus.js';
import { runCli, runValidateInProcess } from './support/cli.js';
import { SAMPLES } from './support/samples.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'edgetwin-validate-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('edgetwin validate', () => {
  it('accepts KubeEdge-format sample manifests (exit 0, no findings)', async () => {
    const r = await runCli(['validate', '-f', SAMPLES]);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('4 valid object(s) in 4 file(s)');
  });

  it('reads a folder with its subfolders: the examples, two levels down, validate as one set', async () => {
    const r = await runCli(['validate', '-f', 'examples']);
    for (const line of r.stdout.split('\n').filter(Boolean)) expect(line).toContain(': notice: ');
    expect(r.stderr).toMatch(/^valid: 0 error\(s\), \d+ notice\(s\); \d+ valid object\(s\) in \d+ file\(s\)\n$/);
    expect(Number(/in (\d+) file/.exec(r.stderr)?.[1])).toBeGreaterThanOrEqual(9);
    expect(r.code).toBe(0);
    const empty = join(tmp, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    expect(await runValidateInProcess(['-f', empty])).toEqual({
      code: 2,
      stdout: '',
      stderr: `edgetwin validate: no manifest files (*.yaml, *.yml, *.json) in ${empty} or any folder below it\n`,
    });
  });

  it('reports every broken manifest of the corpus with its exact line, one error per file, and exits 1', async () => {
    const cases = brokenCases();
    expect(cases.length).toBeGreaterThanOrEqual(25);
    const r = await runCli(['validate', '-f', BROKEN_DIR_FROM_ROOT]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    for (const c of cases) {
      const mine = lines.filter((l) => l.startsWith(`${BROKEN_DIR_FROM_ROOT}/${c.file}:`));
      expect(mine, c.file).toEqual([`${BROKEN_DIR_FROM_ROOT}/${c.file}:${c.expect}`]);
    }
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 1 with the expected line for a single broken file', async () => {
    const c = brokenCases().find((x) => x.file.includes('desired-out-of-range'))!;
    const r = await runCli(['validate', '-f', `${BROKEN_DIR_FROM_ROOT}/${c.file}`]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd()).toBe(`${BROKEN_DIR_FROM_ROOT}/${c.file}:${c.expect}`);
  });

  it('gives the same findings as JSON with --output json', async () => {
    const c = brokenCases().find((x) => x.file.includes('unknown-field-typo'))!;
    const r = await runValidateInProcess(['-o', 'json', '-f', join(BROKEN_DIR, c.file)]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(false);
    expect(out.findings).toHaveLength(1);
    const [line, column] = c.expect.split(':').map(Number);
    expect(out.findings[0]).toMatchObject({
      line,
      column,
      kind: 'Device',
      path: 'spec.properties[0].colectCycle',
      message: 'unknown field "spec.properties[0].colectCycle"',
      expected: 'did you mean "collectCycle"?',
      severity: 'error',
    });
  });

  it('prints v1alpha2 manifests converted to v1beta1 with --convert, and the notices on stderr', async () => {
    const file = join(tmp, 'old.yaml');
    writeFileSync(
      file,
      `apiVersion: devices.kubeedge.io/v1alpha2
kind: DeviceModel
metadata:
  name: led-model
spec:
  properties:
    - name: power-status
      type:
        string:
          accessMode: ReadWrite
          defaultValue: "OFF"
---
apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata:
  name: led
spec:
  deviceModelRef:
    name: led-model
  protocol:
    customizedProtocol:
      protocolName: gpio
      configData:
        pin: 18
  nodeSelector:
    nodeSelectorTerms:
      - matchExpressions:
          - {key: '', operator: In, values: [pi-1]}
  propertyVisitors:
    - propertyName: power-status
      customizedProtocol:
        protocolName: gpio
        configData: {pin: 18}
`,
    );
    const r = await runValidateInProcess(['--convert', '-f', file]);
    expect(r.code).toBe(0);
    expect(parseAllDocuments(r.stdout).map((d) => d.toJS())).toEqual([
      {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'DeviceModel',
        metadata: { name: 'led-model', namespace: 'default' },
        spec: { properties: [{ name: 'power-status', type: 'STRING', accessMode: 'ReadWrite' }] },
      },
      {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        metadata: { name: 'led', namespace: 'default' },
        spec: {
          deviceModelRef: { name: 'led-model' },
          nodeName: 'pi-1',
          protocol: { protocolName: 'gpio', configData: { pin: 18 } },
          properties: [{ name: 'power-status', visitors: { protocolName: 'gpio', configData: { pin: 18 } } }],
        },
      },
    ]);
    expect(r.stderr).toContain(
      `${file}:1:13: DeviceModel/default/led-model: apiVersion: notice: converted from devices.kubeedge.io/v1alpha2`,
    );
    expect(r.stderr).toContain('defaultValue "OFF" dropped');
  });

  it('exits 2 for usage errors: a missing file, a binary file, an unknown output format', async () => {
    const missing = await runValidateInProcess(['-f', join(tmp, 'nope.yaml')]);
    expect(missing).toEqual({
      code: 2,
      stdout: '',
      stderr: `edgetwin validate: cannot read ${join(tmp, 'nope.yaml')}: no such file or directory\n`,
    });

    const bin = join(tmp, 'image.yaml');
    writeFileSync(bin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]));
    const binary = await runValidateInProcess(['-f', bin]);
    expect(binary).toEqual({
      code: 2,
      stdout: '',
      stderr: `edgetwin validate: ${bin} is not YAML: binary content (a NUL byte at offset 4)\n`,
    });

    const latin1 = join(tmp, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from('name: caf\xe9\n', 'latin1'));
    expect((await runValidateInProcess(['-f', latin1])).stderr).toBe(
      `edgetwin validate: ${latin1} is not YAML: not UTF-8 text\n`,
    );

    const badOutput = await runValidateInProcess(['-o', 'xml', '-f', SAMPLES]);
    expect(badOutput).toEqual({
      code: 2,
      stdout: '',
      stderr: 'edgetwin validate: --output must be text or json, not "xml"\n',
    });
  });
});
