// Points a resolved Modbus device at another endpoint (a simulator's port or serial path), keeping
// everything else from its manifest. Tests, benches and `edgetwin up` use it instead of editing YAML.

import type { ResolvedDevice } from '@edgetwin/api';

export function withModbusEndpoint(
  device: ResolvedDevice,
  to: { host?: string; port: number } | { serialPath: string; baudRate?: number },
): ResolvedDevice {
  const cfg = { ...device.protocolConfig };
  if ('serialPath' in to) {
    cfg.communicateMode = 'RTU';
    cfg.serialName = to.serialPath;
    delete cfg.serialPort;
    if (to.baudRate !== undefined) cfg.baudRate = to.baudRate;
  } else {
    cfg.communicateMode = 'TCP';
    cfg.ip = to.host ?? '127.0.0.1';
    cfg.port = String(to.port);
  }
  return { ...device, protocolConfig: cfg };
}
