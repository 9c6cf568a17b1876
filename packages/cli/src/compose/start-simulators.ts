// Simulated hardware for the demos: a Modbus slave for every Modbus device the manifests declare, on the
// address each manifest names (so the mapper dials exactly what a real deployment would); and the
// emulated BLE peripherals (issue 12) when there are bluetooth devices, their adapter handed to the
// in-process bluetooth mapper through EDGETWIN_BLE_ADAPTER.
import {
  type BlePeripherals,
  loadManifestFiles,
  type ModbusSimulator,
  resolveManifests,
  startBlePeripherals,
  startModbusSimulator,
} from '@edgetwin/simulators';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';
import { listManifestPaths } from './manifest-files.js';

/** `tcpPort`: serve every Modbus TCP device on this one port (0 = any free one) instead of its manifest's. */
export async function startSimulatedDevices(
  manifestPaths: string[],
  logger: Logger,
  life: Lifecycle,
  tcpPort?: number,
): Promise<ModbusSimulator | undefined> {
  const loaded = await loadManifestFiles(await listManifestPaths(manifestPaths));
  const modbus = resolveManifests(loaded, { protocol: 'modbus' });
  if (modbus.length === 0) return undefined;
  const sim = await startModbusSimulator({
    devices: modbus,
    behaviour: 'moving',
    logger: logger.child({ part: 'modbus-sim' }),
    ...(tcpPort !== undefined ? { tcp: { port: tcpPort } } : {}),
  });
  life.add('modbus simulator', () => sim.stop());
  return sim;
}

/**
 * The Bumble-emulated BLE peripherals (sensor, lamp, beacon) when the manifests have bluetooth devices
 * and no real adapter was chosen (EDGETWIN_BLE_ADAPTER unset). Sets EDGETWIN_BLE_ADAPTER to their PTY
 * for this process, so the in-process bluetooth mapper uses them. Without the Bumble virtualenv it warns
 * and the BLE devices stay offline: the rest of the demo runs.
 */
export async function startEmulatedBle(
  manifestPaths: string[],
  logger: Logger,
  life: Lifecycle,
): Promise<BlePeripherals | undefined> {
  if (process.env.EDGETWIN_BLE_ADAPTER) return undefined;
  const loaded = await loadManifestFiles(await listManifestPaths(manifestPaths));
  if (resolveManifests(loaded, { protocol: 'bluetooth' }).length === 0) return undefined;
  let ble: BlePeripherals;
  try {
    ble = await startBlePeripherals();
  } catch (e) {
    logger.warn(
      { err: (e as Error).message },
      'no emulated BLE peripherals (they need Bumble: bash scripts/test-setup.sh); bluetooth devices stay offline',
    );
    return undefined;
  }
  life.add('BLE peripherals', () => ble.stop());
  process.env.EDGETWIN_BLE_ADAPTER = `uart:${ble.ptyPath}`;
  return ble;
}
