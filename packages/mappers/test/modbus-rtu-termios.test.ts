// RTU busy loop (issue 9 §5): another program opening the mapper's serial port changes the tty's shared
// settings (pyserial sets VMIN=0 VTIME=0), after which a read of a non-blocking port returns 0 bytes at once
// instead of EAGAIN, and @serialport/bindings-cpp's unixRead re-reads at once, forever: 80-90% CPU. Reproduced
// for real with `stty -F PORT min 0 time 0` (coreutils) from a second process on the mapper's PTY; the
// mapper must keep reading its slave with its CPU time low over a window bounded by completed reads.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type ReceivedMessage, waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { createModbusDriverFactory } from '../src/drivers/modbus/index.js';
import { modbusDevice, simulate } from './modbus-devices.js';
import { startRig, type TwinUpdate } from './runtime-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

const run = promisify(execFile);
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const CYCLES = 20;

it('keeps reading with low CPU after another program sets the shared serial settings to non-blocking reads', async () => {
  const dev = modbusDevice('rtu-shared', { slaveID: 1, timeout: 1000 }, [
    { name: 'level', type: 'INT', visitor: { register: 'HoldingRegister', offset: 0 } },
  ]);
  const line = await simulate([dev], 'rtu');
  cleanups.push(() => line.stop());
  const device = {
    ...line.devices[0]!,
    properties: line.devices[0]!.properties.map((p) => ({ ...p, collectCycleMs: 50, reportCycleMs: 50 })),
  };
  const port = String(device.protocolConfig.serialName);
  const rig = await startRig(createModbusDriverFactory({ reconnectMinMs: 20 }), {
    worker: { connectBackoffMs: 20, maxConnectBackoffMs: 200 },
  });
  cleanups.push(() => rig.close());
  const updates = await collectReports(rig.app, device.id);
  const reported = (v: string) => (m: ReceivedMessage) => (m.json() as TwinUpdate).twin.level?.actual.value === v;
  line.sim.poke(device.id, 'level', 7);
  await rig.publish(device);
  await updates.waitFor(reported('7'), 10_000);

  // a second opener changes the tty's settings under the mapper, as pyserial's open does
  await run('stty', ['-F', port, 'min', '0', 'time', '0']);
  const { stdout } = await run('stty', ['-F', port, '-a']);
  expect(stdout).toMatch(/min = 0; time = 0;/);

  // recovers: a new value on the slave is reported
  line.sim.poke(device.id, 'level', 8);
  await updates.waitFor(reported('8'), 10_000);

  // CPU over a window bounded by events, CYCLES read cycles of the mapper (50 ms apart, mostly idle):
  // a spinning read loop costs about the whole window
  const tally = rig.mapper.metrics.tally(device.id);
  const reads0 = tally.reads;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await waitUntil(() => tally.reads >= reads0 + CYCLES, `${CYCLES} read cycles`, 10_000, 5);
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  const cpuMs = (used.user + used.system) / 1000;
  line.sim.poke(device.id, 'level', 9);
  await updates.waitFor(reported('9'), 10_000);
  // measured: ~45-90% of the window with the busy loop, a few % without
  expect(
    cpuMs / wallMs,
    `CPU ${cpuMs.toFixed(0)} ms over ${wallMs.toFixed(0)} ms of ${CYCLES} read cycles`,
  ).toBeLessThan(0.25);
});
