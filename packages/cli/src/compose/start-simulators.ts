// Simulated hardware for the demos: a Modbus slave for every Modbus device the manifests declare, on the
// address each manifest names (so the mapper dials exactly what a real deployment would); and the
// emulated BLE peripherals (issue 12) when there are bluetooth devices, their adapter handed to the
// in-process bluetooth mapper through EDGETWIN_BLE_ADAPTER; an emulated ONVIF camera (issue 13, our own
// ONVIF server) for every onvif device whose url is on this machine; and a node-opcua server per OPC-UA
// endpoint (issue 11), on the port each device's url names, or all on --opcua-port.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { ResolvedDevice } from '@edgetwin/api';
import {
  type OpcuaSimulator,
  type BlePeripherals,
  loadManifestFiles,
  type ModbusSimulator,
  resolveManifests,
  startBlePeripherals,
  startModbusSimulator,
  startOpcuaSimulator,
} from '@edgetwin/simulators';
import { deviceServiceUrl } from '@edgetwin/mappers/drivers/onvif/config';
import { type OnvifServer, startOnvifServer } from '@edgetwin/simulators/onvif/server';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';
import { listManifestPaths } from './manifest-files.js';
import { opcuaUrlPort } from './simulator-address.js';

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

/** How often the emulated cameras see a car pass in `up` (motion on for half of it). */
const CAMERA_MOTION_EVERY_MS = 20_000;

/**
 * Our ONVIF server (packages/simulators/src/onvif/server.ts) for each onvif device whose url is 127.0.0.1 or
 * localhost, on the port it names, with the user it names and the password in its password file (created with a
 * random password, mode 0600, when missing): the mapper then dials exactly what the manifest says.
 */
export async function startEmulatedCameras(
  manifestPaths: string[],
  logger: Logger,
  life: Lifecycle,
): Promise<Array<{ device: string; server: OnvifServer }>> {
  const loaded = await loadManifestFiles(await listManifestPaths(manifestPaths));
  const out: Array<{ device: string; server: OnvifServer }> = [];
  for (const d of resolveManifests(loaded, { protocol: 'onvif' })) {
    const url = deviceServiceUrl(String(d.protocolConfig.url ?? ''));
    const u = url ? new URL(url) : undefined;
    if (!u || !['127.0.0.1', 'localhost'].includes(u.hostname)) continue;
    const userName = String(d.protocolConfig.userName ?? 'admin');
    const file = d.protocolConfig.password === undefined ? undefined : String(d.protocolConfig.password);
    let password = 'edgetwin';
    if (file) {
      if (!existsSync(file)) {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(file, `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });
      }
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    }
    try {
      const server = await startOnvifServer({
        port: Number(u.port || 80),
        userName,
        password,
        motionEveryMs: CAMERA_MOTION_EVERY_MS,
      });
      life.add(`emulated camera ${d.id}`, () => server.stop());
      out.push({ device: d.id, server });
    } catch (e) {
      logger.warn(
        { device: d.id, err: (e as Error).message },
        'no emulated camera: its port is taken; the device stays offline',
      );
    }
  }
  return out;
}

export interface SimulatedOpcua {
  servers: Array<{ sim: OpcuaSimulator; devices: string[] }>;
}

/**
 * The OPC-UA devices of the manifests served by node-opcua simulators with moving values: one server per
 * port their urls name (so the mapper dials exactly what a real deployment would), or all on `port`.
 */
export async function startSimulatedOpcua(
  manifestPaths: string[],
  logger: Logger,
  life: Lifecycle,
  port?: number,
): Promise<SimulatedOpcua | undefined> {
  const loaded = await loadManifestFiles(await listManifestPaths(manifestPaths));
  const opcua = resolveManifests(loaded, { protocol: 'opcua' });
  if (opcua.length === 0) return undefined;
  const byPort = new Map<number, ResolvedDevice[]>();
  for (const d of opcua) {
    const p = port ?? opcuaUrlPort(d.protocolConfig.url ?? d.protocolConfig.endpoint);
    byPort.set(p, [...(byPort.get(p) ?? []), d]);
  }
  const servers: SimulatedOpcua['servers'] = [];
  for (const [p, devices] of byPort) {
    const sim = await startOpcuaSimulator({
      devices,
      port: p,
      behaviour: 'moving',
      logger: logger.child({ part: 'opcua-sim' }),
    });
    life.add(`opcua simulator ${sim.url}`, () => sim.stop());
    servers.push({ sim, devices: devices.map((d) => d.id) });
  }
  return { servers };
}
