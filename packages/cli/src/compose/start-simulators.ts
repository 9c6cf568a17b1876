// Simulated hardware for the demos: a Modbus slave for every Modbus device the manifests declare, on the
// address each manifest names (so the mapper dials exactly what a real deployment would).
import { loadManifestFiles, type ModbusSimulator, resolveManifests, startModbusSimulator } from '@edgetwin/simulators';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';
import { listManifestPaths } from './manifest-files.js';

export async function startSimulatedDevices(
  manifestPaths: string[],
  logger: Logger,
  life: Lifecycle,
): Promise<ModbusSimulator | undefined> {
  const loaded = await loadManifestFiles(await listManifestPaths(manifestPaths));
  const modbus = resolveManifests(loaded, { protocol: 'modbus' });
  if (modbus.length === 0) return undefined;
  const sim = await startModbusSimulator({
    devices: modbus,
    behaviour: 'moving',
    logger: logger.child({ part: 'modbus-sim' }),
  });
  life.add('modbus simulator', () => sim.stop());
  return sim;
}
