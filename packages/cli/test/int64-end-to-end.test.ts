// Int64/UInt64 beyond 2^53 keep every digit end to end (issue 9 §5, issue 11 "int is KubeEdge's int64"):
// a Modbus int64 and uint64 register (a real TCP slave) -> driver -> framework -> twin -> the report the
// cloud applies to the Device status -> `describe device`. 2^53+1 used to arrive as 9007199254740992, and
// the twin refused it.

import type { Device, DeviceModel, DeviceStatusFields } from '@edgetwin/api';
import { decodeReportBatch, encodeReportBatch, resolveDevice } from '@edgetwin/api';
import { describeDevice } from '@edgetwin/device-controller/cli/present';
import { mergeReport } from '@edgetwin/device-controller/status/merge';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { startMapper } from '@edgetwin/mappers';
import { createModbusDriverFactory } from '@edgetwin/mappers/drivers/modbus/index';
import { startModbusSimulator, withModbusEndpoint } from '@edgetwin/simulators';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { startTwinRig } from './support/twin-rig.js';

const NODE = 'int64-node';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const BIG = '9007199254740993'; // 2^53 + 1
const HUGE = '18446744073709551615'; // 2^64 - 1
const NEGATIVE = '-9223372036854775807'; // -(2^63 - 1)

const model = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'meter-model', namespace: 'default' },
  spec: {
    protocol: 'modbus',
    properties: [
      { name: 'energy', type: 'INT', accessMode: 'ReadWrite' },
      { name: 'counter', type: 'INT', accessMode: 'ReadOnly' },
      { name: 'balance', type: 'INT', accessMode: 'ReadOnly' },
      { name: 'voltage', type: 'INT', accessMode: 'ReadOnly' },
    ],
  },
} as DeviceModel;

function visitor(register: number, dataType: string) {
  return {
    protocolName: 'modbus',
    configData: { register: 'HoldingRegister', offset: register, type: dataType },
  };
}

const device = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'meter', namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'meter-model' },
    nodeName: NODE,
    protocol: {
      protocolName: 'modbus',
      configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: '502', slaveID: 1 },
    },
    properties: [
      { name: 'energy', visitors: visitor(0, 'int64'), collectCycle: 100, reportCycle: 100, reportToCloud: true },
      { name: 'counter', visitors: visitor(4, 'uint64'), collectCycle: 100, reportCycle: 100, reportToCloud: true },
      { name: 'balance', visitors: visitor(8, 'int64'), collectCycle: 100, reportCycle: 100, reportToCloud: true },
      {
        name: 'voltage',
        visitors: {
          protocolName: 'modbus',
          configData: { register: 'HoldingRegister', offset: 12, type: 'uint16' },
        },
        collectCycle: 100,
        reportCycle: 100,
        reportToCloud: true,
      },
    ],
  },
} as Device;

it('a Modbus int64/uint64 beyond 2^53 keeps every digit from the register to the cloud status and describe', async () => {
  const resolved = { ...resolveDevice(device, model), nodeName: NODE };
  const sim = await startModbusSimulator({ devices: [resolved], tcp: { port: 0 } });
  cleanups.push(() => sim.stop());
  sim.pokeRaw(resolved.id, 'energy', BIG);
  sim.pokeRaw(resolved.id, 'counter', HUGE);
  sim.pokeRaw(resolved.id, 'balance', NEGATIVE);
  sim.pokeRaw(resolved.id, 'voltage', 230);
  // the registers hold the exact values (a second reader of the same bank)
  expect(String(sim.peekRaw(resolved.id, 'energy'))).toBe(BIG);

  const { brokerUrl, twin } = await startTwinRig(NODE, cleanups);
  const local = withModbusEndpoint(resolved, { port: sim.port });
  const deviceHere = structuredClone(device);
  deviceHere.spec.protocol!.configData!.port = String(sim.port);
  expect(local.protocolConfig.port).toBe(String(sim.port));
  expect((await twin.loadManifests([model, deviceHere])).errors).toEqual([]);
  const mapper = await startMapper({
    factory: createModbusDriverFactory({ reconnectMinMs: 50 }),
    brokerUrl,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => mapper.stop());

  const actual = (p: string) => twin.getTwin(resolved.id)?.twins[p]?.actual?.value;
  await waitUntil(
    () => actual('voltage') !== undefined && actual('energy') !== undefined,
    'the readings in the twin',
    10_000,
  );
  expect({ energy: actual('energy'), counter: actual('counter'), balance: actual('balance') }).toEqual({
    energy: BIG,
    counter: HUGE,
    balance: NEGATIVE,
  });

  // what the edge sends the cloud, through the link's codec, folded into the Device status as the controller does
  const entries = twin.outbox.pending(0, 1000);
  const batch = decodeReportBatch(encodeReportBatch({ node: NODE, entries }));
  if (!batch.ok) throw new Error(batch.error);
  const status = {} as DeviceStatusFields;
  for (const e of batch.value.entries) mergeReport(deviceHere, status, e);
  const reported = (p: string) => status.twins?.find((t) => t.propertyName === p)?.reported?.value;
  expect([reported('energy'), reported('counter'), reported('balance')]).toEqual([BIG, HUGE, NEGATIVE]);
  const text = describeDevice({ ...deviceHere, status }, model);
  expect(text).toMatch(new RegExp(`^\\s+energy\\s+INT\\s+-\\s+${BIG}\\s`, 'm'));
  expect(text).toMatch(new RegExp(`^\\s+counter\\s+INT RO\\s+-\\s+${HUGE}\\s`, 'm'));

  // a desired value beyond 2^53 is written exactly too
  await twin.setDesiredLocally(resolved.id, 'energy', '9007199254740995');
  await waitUntil(() => actual('energy') === '9007199254740995', 'the written value read back', 10_000);
  expect(String(sim.peekRaw(resolved.id, 'energy'))).toBe('9007199254740995');
});
