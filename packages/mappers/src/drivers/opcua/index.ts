// The OPC-UA DriverFactory (issue 11; docs/opcua.md): validation from config.ts, one client per device. The
// client (driver.ts, node-opcua) loads on the first device's first use (issue 15 target 4): importing this
// module, as every edge does for its opcua mapper, stays light.
import { join } from 'node:path';
import { formatConfigIssue, type ResolvedDevice } from '@edgetwin/api';
import { type DriverContext, DriverError, type DriverFactory } from '../../framework/driver.js';
import { parseOpcuaProtocol, validateOpcuaDevice } from './config.js';
import { lazyDriver } from '../../framework/lazy-driver.js';

export * from './config.js';

/** EDGETWIN_OPCUA_DATA_DIR, else .edgetwin/opcua under the working directory (where `up` keeps its data). */
export function defaultOpcuaDataDir(env = process.env): string {
  return env.EDGETWIN_OPCUA_DATA_DIR || join(process.cwd(), '.edgetwin', 'opcua');
}

export function createOpcuaDriverFactory(opts: { dataDir?: string } = {}): DriverFactory {
  return {
    protocol: 'opcua',
    validate: (device) => validateOpcuaDevice(device),
    create(device: ResolvedDevice, ctx: DriverContext) {
      const proto = parseOpcuaProtocol(device.protocolConfig);
      if (!proto.ok)
        throw new DriverError(
          `device ${device.id}: ${proto.issues.map(formatConfigIssue).join('; ')}`,
          'config',
          false,
        );
      const cfg = proto.value;
      const dataDir = opts.dataDir ?? defaultOpcuaDataDir();
      return lazyDriver('the OPC-UA client (node-opcua)', async () => {
        const { OpcuaDeviceDriver } = await import('./driver.js');
        return new OpcuaDeviceDriver(device, cfg, { dataDir }, ctx);
      });
    },
  };
}

/** The factory the driver registry uses (protocol name `opcua`). */
export const opcuaDriverFactory: DriverFactory = createOpcuaDriverFactory();
