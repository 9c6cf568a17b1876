// `edgetwin up --modbus-port` (issue 9 §5) and `--opcua-port` (issue 11): the simulated devices are served
// on a port the user chose, so the devices the controller holds must dial it. The address is part of each Device's spec, so
// it changes the one way a spec changes: an apply through the controller (which keeps desired values set
// with `twin set`, and sends the change down to the node and its mapper).
import { type Device, deviceId } from '@edgetwin/api';
import type { ControllerClient } from '@edgetwin/device-controller/http/client';

type ConfigData = NonNullable<NonNullable<Device['spec']['protocol']>['configData']>;

/**
 * Applies `address(configData)` to the given devices through the controller (as any spec change); a
 * device whose config it leaves as is (undefined) is not touched. Returns the ids it changed.
 */
async function repointDevices(
  client: ControllerClient,
  ids: readonly string[],
  flag: string,
  address: (config: ConfigData) => ConfigData | undefined,
): Promise<string[]> {
  const wanted = new Set(ids);
  const files: Array<{ file: string; text: string }> = [];
  const changed: string[] = [];
  for (const d of await client.devices()) {
    const id = deviceId(d);
    const next = wanted.has(id) ? address(d.spec.protocol?.configData ?? {}) : undefined;
    if (!next) continue;
    const changedDevice: Device = structuredClone(d);
    delete changedDevice.status;
    changedDevice.spec.protocol = { ...changedDevice.spec.protocol, configData: next };
    files.push({ file: `${flag} (${id})`, text: JSON.stringify(changedDevice) });
    changed.push(id);
  }
  if (files.length > 0) await client.apply(files);
  return changed;
}

/** Points the given Modbus TCP devices at host:port; returns the ids it changed. */
export function pointModbusDevicesAt(
  client: ControllerClient,
  ids: readonly string[],
  host: string,
  port: number,
): Promise<string[]> {
  return repointDevices(client, ids, '--modbus-port', (config) => {
    if (config.ip === host && String(config.port) === String(port)) return undefined;
    // keep the manifest's type for port (KubeEdge's samples write it as a string)
    return { ...config, ip: host, port: typeof config.port === 'number' ? port : String(port) };
  });
}

/** Points the given OPC-UA devices' url at host:port (keeping its path); returns the ids it changed. */
export function pointOpcuaDevicesAt(
  client: ControllerClient,
  ids: readonly string[],
  host: string,
  port: number,
): Promise<string[]> {
  return repointDevices(client, ids, '--opcua-port', (config) => {
    const key = config.url === undefined && config.endpoint !== undefined ? 'endpoint' : 'url';
    const url = String(config[key] ?? '');
    const path = /^opc\.tcp:\/\/[^/]+(\/.*)?$/.exec(url)?.[1] ?? '';
    const next = `opc.tcp://${host}:${port}${path}`;
    return url === next ? undefined : { ...config, [key]: next };
  });
}

/** The ports the simulated Modbus devices are served on, each moved by --modbus-port (for busy-port errors). */
export function modbusPortFlags(devices: readonly Device[], chosen: number | undefined): Array<[number, string]> {
  if (chosen !== undefined) return [[chosen, '--modbus-port']];
  const ports = devices
    .filter((d) => d.spec.protocol?.protocolName === 'modbus')
    .map((d) => Number(d.spec.protocol?.configData?.port))
    .filter((p) => Number.isInteger(p) && p > 0);
  return [...new Set(ports)].map((p) => [p, '--modbus-port']);
}

/** The ports the simulated OPC-UA devices are served on, each moved by --opcua-port (for busy-port errors). */
export function opcuaPortFlags(devices: readonly Device[], chosen: number | undefined): Array<[number, string]> {
  if (chosen !== undefined) return [[chosen, '--opcua-port']];
  const ports = devices
    .filter((d) => d.spec.protocol?.protocolName === 'opcua')
    .map((d) => opcuaUrlPort(d.spec.protocol?.configData?.url));
  return [...new Set(ports)].map((p) => [p, '--opcua-port']);
}

/** The port of an opc.tcp:// url (4840, OPC-UA's registered port, when it names none). */
export function opcuaUrlPort(url: unknown): number {
  const m = /^opc\.tcp:\/\/[^/:]+:(\d+)/.exec(String(url ?? ''));
  return m ? Number(m[1]) : 4840;
}
