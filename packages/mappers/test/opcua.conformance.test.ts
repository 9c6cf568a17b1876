// The driver conformance suite for OPC-UA (issue 11) against the node-opcua simulator built from the same
// device: anonymous, SecurityMode None; the fault is the server going away and coming back on its port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpcuaSimulator } from '@edgetwin/simulators/opcua/simulator';
import { afterAll } from 'vitest';
import { runDriverConformance } from '../src/conformance/index.js';
import { createOpcuaDriverFactory } from '../src/drivers/opcua/index.js';
import { device, prop } from './runtime-helpers.js';

// one data dir for the whole suite: the client's application certificate (an RSA key) is made once, as
// in a real mapper, not once per test (slow on a loaded machine)
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

runDriverConformance('opcua', async () => {
  const spec = device(
    'opcua',
    [
      prop('temperature', { type: 'DOUBLE', visitor: { nodeID: 'ns=2;s=Line1.Temperature', dataType: 'Double' } }),
      prop('count', { type: 'INT', visitor: { nodeID: 'ns=2;i=1001', dataType: 'Int32' } }),
      prop('running', { type: 'BOOLEAN', visitor: { nodeID: 'nsu=urn:edgetwin:line;s=Running', dataType: 'Boolean' } }),
      prop('label', {
        type: 'STRING',
        visitor: { nodeID: 'ns=2;g=3f2504e0-4f89-11d3-9a0c-0305e82c3301', dataType: 'String' },
      }),
      prop('serial', {
        type: 'STRING',
        accessMode: 'ReadOnly',
        visitor: { nodeID: 'ns=2;b=c2VyaWFs', dataType: 'String' },
      }),
    ],
    { protocolConfig: { url: 'opc.tcp://127.0.0.1:0' } },
  );
  const sim = await startOpcuaSimulator({ devices: [spec], port: 0 });
  const dev = { ...spec, protocolConfig: { url: sim.url, timeout: 2000 } };
  return {
    factory: createOpcuaDriverFactory({ dataDir }),
    device: dev,
    peek: async (name) => sim.peek(dev.id, name),
    poke: async (name, v) => sim.poke(dev.id, name, v),
    fault: async (kind) => sim.setReachable(kind === 'reachable'),
    teardown: () => sim.stop(),
    badWrites: { count: 'many', running: 'maybe', temperature: 'hot' },
  };
});
