// The ONVIF DriverFactory (issue 13; docs/onvif.md): validation from config.ts, one camera client per device.
// The camera client (driver.ts: SOAP/XML, RTSP, media) loads on the first device's first use (issue 15
// target 4), so an edge without cameras never imports it.
import { formatConfigIssue, type ResolvedDevice } from '@edgetwin/api';
import { type DriverContext, DriverError, type DriverFactory } from '../../framework/driver.js';
import { parseOnvifProtocol, validateOnvifDevice } from './config.js';
import { lazyDriver } from '../../framework/lazy-driver.js';

export * from './config.js';

export const onvifDriverFactory: DriverFactory = {
  protocol: 'onvif',
  validate: (device) => validateOnvifDevice(device),
  create(device: ResolvedDevice, ctx: DriverContext) {
    const proto = parseOnvifProtocol(device.protocolConfig);
    if (!proto.ok)
      throw new DriverError(`device ${device.id}: ${proto.issues.map(formatConfigIssue).join('; ')}`, 'config', false);
    const cfg = proto.value;
    return lazyDriver('the ONVIF camera client', async () => {
      const { OnvifDeviceDriver } = await import('./driver.js');
      return new OnvifDeviceDriver(device, cfg, ctx);
    });
  },
};
