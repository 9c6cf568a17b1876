// The line-PLC example end to end (issue 11): its own manifests on a node-opcua simulator, the DeviceTwin
// and the OPC-UA mapper. The temperature the PLC measures reaches the twin through a subscription, a
// setpoint the cloud desires is written to the PLC with its exact DataType (Float) and reported back, and
// an operator changing the speed at the PLC shows in the twin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { loadManifestFiles, type OpcuaSimulator, resolveManifests, startOpcuaSimulator } from '@edgetwin/simulators';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeStack, startEdgeStack } from '../shared/testing/edge-stack.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));
const PLC = 'default/line-plc-01';

describe('line PLC end to end: OPC-UA simulator, twin, OPC-UA mapper', { timeout: 120_000 }, () => {
  let sim: OpcuaSimulator | undefined;
  let stack: EdgeStack | undefined;
  let dataDir: string;
  const before = process.env.EDGETWIN_OPCUA_DATA_DIR;

  beforeAll(() => {
    // the mapper's application certificate goes to a temp dir, not the repository
    dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-line-plc-'));
    process.env.EDGETWIN_OPCUA_DATA_DIR = dataDir;
  });
  afterAll(() => {
    if (before === undefined) delete process.env.EDGETWIN_OPCUA_DATA_DIR;
    else process.env.EDGETWIN_OPCUA_DATA_DIR = before;
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await stack?.stop();
    await sim?.stop();
    stack = undefined;
    sim = undefined;
  });

  it('reports the PLC’s values, writes the desired setpoint, and follows a change made at the PLC', async () => {
    const manifests = await loadManifestFiles([MANIFESTS]);
    sim = await startOpcuaSimulator({ devices: resolveManifests(manifests), port: 0, behaviour: 'static' });
    const url = sim.url;
    stack = await startEdgeStack({
      manifestsDir: MANIFESTS,
      protocol: 'opcua',
      adjust: (d) => {
        const next = structuredClone(d);
        next.spec.protocol!.configData = { ...next.spec.protocol!.configData, url };
        return next;
      },
    });
    const actual = (name: string) => stack?.twin.getTwin(PLC)?.twins[name]?.actual?.value;
    const reported = (name: string, value: string) =>
      waitUntil(() => actual(name) === value, `${name} reported ${value} (twin has ${actual(name)})`, 30_000);

    // the model's range starts the simulated oven mid-way: (20 + 300) / 2
    await reported('temperature', '160');
    // the manifest's desired setpoint was written as a Float, read back and reported
    await reported('setpoint', '180');
    expect(sim.peek(PLC, 'setpoint')).toBe(180);

    stack.cloudSet(PLC, { setpoint: '212.5', running: 'true' });
    await reported('setpoint', '212.5');
    await reported('running', 'true');
    expect(sim.peek(PLC, 'running')).toBe(true);

    // an operator at the PLC: pushed by the subscription
    sim.poke(PLC, 'conveyor-speed', 1.25);
    await reported('conveyor-speed', '1.25');
    sim.poke(PLC, 'temperature', 171.5);
    await reported('temperature', '171.5');
  });
});
