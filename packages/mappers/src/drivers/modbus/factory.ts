// The Modbus DriverFactory: validates a device's protocol and visitor config, and creates drivers that share
// one connection per TCP gateway or serial line.

import { type ConfigIssue, formatConfigIssue, type ResolvedDevice } from '@edgetwin/api';
import pino, { type Logger } from 'pino';
import { type DriverContext, DriverError, type DriverFactory } from '../../framework/driver.js';
import { parseModbusProtocol, validateModbusDevice } from './config.js';
import { ModbusDeviceDriver } from './driver.js';
import { LineRegistry } from './line.js';

export interface ModbusDriverOptions {
  /** at most one reconnect attempt per line per this many ms (default 1000) */
  reconnectMinMs?: number;
  /** logger for line events (connect, loss); devices log through their DriverContext */
  logger?: Logger;
}

export interface ModbusDriverFactory extends DriverFactory {
  /** open shared connections (for tests and metrics) */
  readonly lineCount: number;
  close(): Promise<void>;
}

export function createModbusDriverFactory(opts: ModbusDriverOptions = {}): ModbusDriverFactory {
  const lines = new LineRegistry({
    reconnectMinMs: opts.reconnectMinMs ?? 1000,
    logger: opts.logger ?? pino({ level: 'silent' }),
  });
  return {
    protocol: 'modbus',
    get lineCount() {
      return lines.size;
    },
    validate(device: ResolvedDevice): ConfigIssue[] {
      return validateModbusDevice(device);
    },
    create(device: ResolvedDevice, ctx: DriverContext) {
      const proto = parseModbusProtocol(device.protocolConfig);
      if (!proto.ok)
        throw new DriverError(
          `device ${device.id}: ${proto.issues.map(formatConfigIssue).join('; ')}`,
          'config',
          false,
        );
      return new ModbusDeviceDriver(device, proto.value, lines, ctx);
    },
    close() {
      return lines.closeAll();
    },
  };
}

/** The factory the driver registry uses (protocol name `modbus`). */
export const modbusDriverFactory: ModbusDriverFactory = createModbusDriverFactory();
