// The controller-facing CLI commands, spawned as a user runs them, against a controller started here.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeRegistry } from '../src/cloud-link/node-registry.js';
import { type RunningController, startController } from '../src/controller.js';
import { SAMPLE_FILES, SAMPLES, tempDir, twinReport } from './support.js';

const BIN = fileURLToPath(new URL('../../cli/bin/edgetwin.js', import.meta.url));
const MODEL = join(SAMPLES, SAMPLE_FILES.counterModel);
const INSTANCE = join(SAMPLES, SAMPLE_FILES.counterDevice);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function edgetwin(args: string[], server: string, token: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { ...process.env, EDGETWIN_SERVER: server, EDGETWIN_TOKEN: token, EDGETWIN_LOG_LEVEL: 'silent' },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Each spawn loads the whole CLI through tsx: about 2 s on an idle 2-core machine, several times that when
// other test files run beside it, hence few spawns, run side by side where independent, and a longer timeout.
describe('edgetwin apply/get/describe/twin/delete', { timeout: 120_000 }, () => {
  let ctl: RunningController;
  let nodes: NodeRegistry;
  let dir: string;
  let cleanup: () => void;
  const run = (...args: string[]) => edgetwin(args, ctl.url, ctl.apiToken);

  beforeAll(async () => {
    const t = tempDir();
    dir = t.dir;
    cleanup = t.cleanup;
    nodes = new NodeRegistry();
    ctl = await startController({
      source: 'embedded',
      dbPath: join(dir, 'c.db'),
      httpPort: 0,
      statusIntervalMs: 0,
      nodeJoin: { registry: nodes, linkUrl: 'mqtt://cloud.example:1884' },
    });
  });
  afterAll(async () => {
    await ctl.stop();
    nodes.close();
    cleanup();
  });

  it('refuses bad arguments with exit 2 and a device the model of which is missing with exit 1', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: x\nspec:\n  deviceModelRef:\n    name: nope\n  nodeName: n1\n  protocol:\n    protocolName: virtual\n  properties:\n    - name: a\n',
    );
    const [noFile, noModel, oldHost, passwordFlag] = await Promise.all([
      run('apply'),
      run('apply', '-f', bad),
      run('cloud', '--host', '0.0.0.0'),
      run('edge', '--node', 'n1', '--cloud-password', 'hunter2'),
    ]);
    expect(noFile.code).toBe(2);
    // --host used to open the API together with the cloud-link broker; it was split (issue 10)
    expect(oldHost.code).toBe(2);
    expect(oldHost.stderr).toMatch(/--host was split into --api-host .* and --link-host/);
    // secrets never on the command line (issue 10 §5)
    expect(passwordFlag.code).toBe(2);
    expect(passwordFlag.stderr).toMatch(/--cloud-password puts a secret on the command line .* --cloud-password-file/);
    expect(noFile.stderr).toMatch(/required option '-f, --filename/);
    expect(noModel.code).toBe(1);
    // the validator's line, pointing into the user's file, not an HTTP code
    expect(noModel.stderr).toMatch(
      new RegExp(
        `^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:7:\\d+: Device/default/x: spec\\.deviceModelRef\\.name: .*nope`,
        'm',
      ),
    );
    expect(noModel.stderr).not.toMatch(/\b400\b/);
  });

  it('applies, lists, sets a desired value, describes, and deletes', async () => {
    const applied = await run('apply', '-f', INSTANCE, '-f', MODEL);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe(
      'devicemodel.devices.kubeedge.io/counter-model created\ndevice.devices.kubeedge.io/counter-instance created\n',
    );

    const [table, twin, call, badCall, readOnlyCall] = await Promise.all([
      run('get', 'devices'),
      run('twin', 'set', 'default/counter-instance', 'count=42'),
      run('call', 'counter-instance', 'UpdateStatus', 'status=PAUSED'),
      run('call', 'counter-instance', 'Explode', 'status=ON'),
      run('call', 'counter-instance', 'UpdateStatus', 'count=1'),
    ]);
    // a method call sets the desired value of each property it writes (issue 17)
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    expect(call.stdout).toMatch(/^device default\/counter-instance: UpdateStatus: desired set/m);
    expect(
      ctl.store?.device('default', 'counter-instance')?.spec.properties?.find((p) => p.name === 'status')?.desired
        ?.value,
    ).toBe('PAUSED');
    expect(badCall.code).toBe(1);
    expect(badCall.stderr).toContain('no method "Explode" (has: UpdateStatus, SetCount)');
    expect(readOnlyCall.code).toBe(1);
    expect(readOnlyCall.stderr).toContain('method "UpdateStatus" does not write "count" (it writes status)');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+MODEL\s+NODE\s+STATE\s+LAST-SEEN\s+AGE$/);
    expect(table.stdout).toMatch(/default\s+counter-instance\s+counter-model\s+kind-worker/);
    expect(twin.code).toBe(0);
    expect(
      ctl.store?.device('default', 'counter-instance')?.spec.properties?.find((p) => p.name === 'count')?.desired
        ?.value,
    ).toBe('42');
    // all or nothing (issue 9 §5): a bad property in the list leaves the good one unset, exit 1
    const version = ctl.store?.device('default', 'counter-instance')?.metadata.resourceVersion;
    const partial = await run('twin', 'set', 'default/counter-instance', 'count=7', 'nosuch=1');
    expect(partial.code).toBe(1);
    expect(partial.stdout).toBe('');
    expect(partial.stderr).toContain('spec.properties: no property "nosuch" (has: status, count)');
    expect(ctl.store?.device('default', 'counter-instance')?.metadata.resourceVersion).toBe(version);
    expect(
      ctl.store?.device('default', 'counter-instance')?.spec.properties?.find((p) => p.name === 'count')?.desired
        ?.value,
    ).toBe('42');

    await ctl.status.applyReports('kind-worker', [
      twinReport('default/counter-instance', 'count', '41'),
      {
        kind: 'state',
        deviceId: 'default/counter-instance',
        seq: 99,
        timestamp: Date.now(),
        state: 'online',
        lastOnlineTime: new Date().toISOString(),
      },
    ]);
    const described = await run('describe', 'device', 'counter-instance');
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^State:\s+online$/m);
    expect(described.stdout).toMatch(/^\s+count\s+STRING\s+42\s+41\s.*pending$/m);
    expect(described.stdout).toMatch(
      /^Methods:\n\s+METHOD\s+WRITES\s+DESCRIPTION\n\s+UpdateStatus\s+status \(STRING\)\s+\S/m,
    );
    expect(described.stdout).toMatch(/^\s+SetCount\s+count \(STRING\)\s+\S/m);

    const deleted = await run('delete', '-f', MODEL, '-f', INSTANCE);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe(
      'device.devices.kubeedge.io/counter-instance deleted\ndevicemodel.devices.kubeedge.io/counter-model deleted\n',
    );
    expect(ctl.store?.devices()).toEqual([]);
  });

  it('node add prints a one-time join token and how to use it; node remove revokes the node', async () => {
    const added = await run('node', 'add', 'gw-1');
    expect(added.code).toBe(0);
    expect(added.stdout.trim()).toMatch(/^etjoin1_\S+$/);
    expect(added.stderr).toMatch(/edgetwin edge --node gw-1 --cloud mqtt:\/\/cloud.example:1884 --token-file FILE/);
    expect(nodes.list()).toMatchObject([{ name: 'gw-1', joined: false }]);
    const [again, removed] = [await run('node', 'add', 'gw-1'), await run('node', 'remove', 'gw-1')];
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/node gw-1 is already registered; `edgetwin node add --rejoin`/);
    expect(removed.code).toBe(0);
    expect(nodes.has('gw-1')).toBe(false);
  });
});
