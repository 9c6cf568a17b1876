// Devices for the Modbus driver tests, built from manifests as a user writes them, and a helper that
// starts the Modbus simulator for them on an ephemeral port or a socat PTY pair.
import type { ResolvedDevice } from '@edgetwin/api';
import {
  type ModbusPropSpec,
  type ModbusSimulator,
  modbusDevice,
  openPtyPair,
  startModbusSimulator,
  withModbusEndpoint,
} from '@edgetwin/simulators';

export { modbusDevice };
export type PropSpec = ModbusPropSpec;

/** A device with one property of every kind the conformance suite exercises. */
export function allKindsDevice(name: string, slaveID: number, timeout = 500): ResolvedDevice {
  return modbusDevice(name, { slaveID, timeout }, [
    {
      name: 'setpoint',
      type: 'FLOAT',
      min: '-50',
      max: '60',
      visitor: { register: 'HoldingRegister', offset: 0, type: 'int16', scale: 0.1 },
    },
    { name: 'switch', type: 'INT', visitor: { register: 'CoilRegister', offset: 0, limit: 1, dataType: 'int' } },
    {
      name: 'power',
      type: 'FLOAT',
      access: 'ReadOnly',
      visitor: { register: 'InputRegister', offset: 2, type: 'float32', order: 'CDAB' },
    },
    { name: 'energy', type: 'INT', visitor: { register: 'HoldingRegister', offset: 4, type: 'uint32', order: 'DCBA' } },
    { name: 'label', type: 'STRING', visitor: { register: 'HoldingRegister', offset: 10, type: 'string', limit: 4 } },
    { name: 'alarm', type: 'BOOLEAN', visitor: { register: 'HoldingRegister', offset: 20, type: 'boolean', bit: 3 } },
    { name: 'door', type: 'BOOLEAN', access: 'ReadOnly', visitor: { register: 'DiscreteInputRegister', offset: 1 } },
  ]);
}

export interface SimulatedLine {
  sim: ModbusSimulator;
  /** the devices as the mapper should see them: pointed at the simulator */
  devices: ResolvedDevice[];
  stop(): Promise<void>;
}

/** Starts the simulator for `devices` over TCP (ephemeral port) or RTU (a fresh socat PTY pair). */
export async function simulate(
  devices: ResolvedDevice[],
  mode: 'tcp' | 'rtu',
  opts: { strict?: boolean } = {},
): Promise<SimulatedLine> {
  if (mode === 'tcp') {
    const sim = await startModbusSimulator({ devices, tcp: { port: 0 }, strict: opts.strict });
    return { sim, devices: devices.map((d) => withModbusEndpoint(d, { port: sim.port })), stop: () => sim.stop() };
  }
  const pty = await openPtyPair();
  try {
    const sim = await startModbusSimulator({ devices, rtu: { path: pty.a, baudRate: 115200 }, strict: opts.strict });
    return {
      sim,
      devices: devices.map((d) => withModbusEndpoint(d, { serialPath: pty.b, baudRate: 115200 })),
      stop: async () => {
        await sim.stop();
        await pty.close();
      },
    };
  } catch (e) {
    await pty.close();
    throw e;
  }
}
