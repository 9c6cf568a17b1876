// Starts and stops the emulated BLE peripherals (issue 12): packages/simulators/python/ble_peripherals.py
// on the project's Bumble virtualenv. One Python process holds one virtual adapter (an H4 PTY that
// noble's UART binding opens) and the sensor, lamp and beacon. Waits on the program's ready line,
// never on time; talks to it over JSON lines on stdin/stdout.

import type { EventEmitter } from 'node:events';
import { lstat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../peers.js';
import { type PythonPeer, startPythonPeer } from '../python-peer.js';

export type BlePeripheralName = 'sensor' | 'lamp' | 'beacon';

export interface BlePeripheralInfo {
  address: string;
  addressType: 'public' | 'random';
  name: string;
}

/** What the tests and `edgetwin simulate` can do to the emulated world. */
export type BleFault =
  /** the device's radio goes silent (no advertising, no data); its links end after the supervision timeout */
  | 'out-of-range'
  | 'in-range'
  /** only the link drops (both ends see reason 0x08); the device keeps advertising */
  | 'drop-link';

export interface BlePeripherals {
  /** the adapter's PTY path (a symlink), for `adapter: uart:<path>` or BLUETOOTH_HCI_SOCKET_UART_PORT */
  ptyPath: string;
  /** the adapter's public address */
  adapter: string;
  devices: Record<BlePeripheralName, BlePeripheralInfo>;
  /** a peripheral's state: sensor object/ambient/enabled/io/io_config, lamp power/brightness, beacon temperature/humidity */
  get(device: BlePeripheralName, key: string): Promise<unknown>;
  set(device: BlePeripheralName, key: string, value: number | boolean): Promise<void>;
  fault(device: BlePeripheralName, fault: BleFault): Promise<void>;
  /** answer the device's writes with this ATT error code (0 = accept again; default 0x03 Write Not Permitted) */
  refuseWrites(device: BlePeripheralName, code?: number): Promise<void>;
  /** how many links the peripheral has */
  connections(device: BlePeripheralName): Promise<number>;
  /** `{event:'write', device, key, value(hex)}` for every GATT write a peripheral accepted */
  events: EventEmitter;
  /** pid of the Python process (a test may kill it to close the PTY under the driver) */
  pid: number;
  stop(): Promise<void>;
}

export interface BlePeripheralsOptions {
  /** where the PTY symlink goes (default: a fresh name in the temp directory) */
  ptyPath?: string;
  /** advertising interval of the connectable peripherals (default 50 ms) */
  advertisingIntervalMs?: number;
  readyTimeoutMs?: number;
  /** how long after going out of range a link is declared lost (default 1000 ms) */
  supervisionTimeoutMs?: number;
}

const SCRIPT = resolve(repoRoot, 'packages/simulators/python/ble_peripherals.py');

/** Bumble leaves its PTY symlink behind when killed: a stale one would make the next start fail. */
async function removeStaleLink(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSymbolicLink())
    throw new Error(`BLE peripherals: ${path} exists and is not a PTY symlink; choose another ptyPath`);
  await unlink(path).catch(() => undefined);
}

export async function startBlePeripherals(opts: BlePeripheralsOptions = {}): Promise<BlePeripherals> {
  const ptyPath =
    opts.ptyPath ?? join(tmpdir(), `edgetwin-ble-${process.pid}-${Math.random().toString(36).slice(2, 8)}.pty`);
  await removeStaleLink(ptyPath);
  type Ready = { adapter: string; devices: Record<BlePeripheralName, BlePeripheralInfo> };
  let peer: PythonPeer<Ready>;
  try {
    peer = await startPythonPeer<Ready>(
      'BLE peripherals',
      [SCRIPT, '--pty', ptyPath, '--interval-ms', String(opts.advertisingIntervalMs ?? 50)],
      { cwd: resolve(repoRoot, 'packages/simulators/python'), readyTimeoutMs: opts.readyTimeoutMs ?? 20000 },
    );
  } catch (e) {
    await removeStaleLink(ptyPath).catch(() => undefined);
    throw e;
  }
  const { call, events } = peer;
  const info = peer.ready;
  const stop = async () => {
    await peer.stop();
    await removeStaleLink(ptyPath).catch(() => undefined);
  };
  return {
    ptyPath,
    adapter: info.adapter,
    devices: info.devices,
    events,
    pid: peer.pid,
    get: (device, key) => call({ cmd: 'get', device, key }),
    set: async (device, key, value) => {
      await call({ cmd: 'set', device, key, value });
    },
    fault: async (device, fault) => {
      await call({ cmd: fault, device, supervision_ms: opts.supervisionTimeoutMs ?? 1000 });
    },
    refuseWrites: async (device, code = 0x03) => {
      await call({ cmd: 'refuse-writes', device, code });
    },
    connections: async (device) => Number(await call({ cmd: 'connections', device })),
    stop,
  };
}
