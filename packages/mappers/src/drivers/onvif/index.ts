// The ONVIF DriverFactory (issue 13; docs/onvif.md): validation from config.ts, one camera client per device.
import { formatConfigIssue, type ResolvedDevice } from '@edgetwin/api';
import { type DriverContext, DriverError, type DriverFactory } from '../../framework/driver.js';
import { parseOnvifProtocol, validateOnvifDevice } from './config.js';
import { OnvifDeviceDriver } from './driver.js';

export * from './config.js';
export { OnvifDeviceDriver, readPasswordFile } from './driver.js';

export const onvifDriverFactory: DriverFactory = {
  protocol: 'onvif',
  validate: (device) => validateOnvifDevice(device),
  create(device: ResolvedDevice, ctx: DriverContext) {
    const proto = parseOnvifProtocol(device.protocolConfig);
    if (!proto.ok)
      throw new DriverError(`device ${device.id}: ${proto.issues.map(formatConfigIssue).join('; ')}`, 'config', false);
    return new OnvifDeviceDriver(device, proto.value, ctx);
  },
};
