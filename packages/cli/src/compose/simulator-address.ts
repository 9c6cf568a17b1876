// `edgetwin up --modbus-port` (issue 9 §5): the simulated Modbus devices are served on a port the user
// chose, so the devices the controller holds must dial it. The address is part of each Device's spec, so
// it changes the one way a spec changes: an apply through the controller (which keeps desired values set
// with `twin set`, and sends the change down to the node and its mapper).
import { type Device, deviceId } from '@edgetwin/api';
import type { ControllerClient } from '@edgetwin/device-controller/http/client';

/** Points the given Modbus TCP devices at host:port; returns the ids it changed. */
export async function pointModbusDevicesAt(
  client: ControllerClient,
  ids: readonly string[],
  host: string,
  port: number,
): Promise<string[]> {
  const wanted = new Set(ids);
  const files: Array<{ file: string; text: string }> = [];
  const changed: string[] = [];
  for (const d of await client.devices()) {
    const id = deviceId(d);
    const config = d.spec.protocol?.configData ?? {};
    if (!wanted.has(id) || (config.ip === host && String(config.port) === String(port))) continue;
    const next: Device = structuredClone(d);
    delete next.status;
    // keep the manifest's type for port (KubeEdge's samples write it as a string)
    const portValue = typeof config.port === 'number' ? port : String(port);
    next.spec.protocol = { ...next.spec.protocol, configData: { ...config, ip: host, port: portValue } };
    files.push({ file: `--modbus-port (${id})`, text: JSON.stringify(next) });
    changed.push(id);
  }
  if (files.length > 0) await client.apply(files);
  return changed;
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
