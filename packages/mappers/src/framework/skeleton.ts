// The DeviceModel + Device pair a `probe ... -o yaml` writes (issue 11 and 12): one shape for every
// protocol, so each probe only says what it found (the model property, its visitor, the protocol config).
import type { ModelProperty } from '@edgetwin/api';

export interface SkeletonProperty {
  model: ModelProperty;
  /** the visitor's configData */
  visitor: Record<string, unknown>;
  /** Device property fields beside name and visitors (reportToCloud, collectCycle, ...) */
  device?: Record<string, unknown>;
}

/** `<name>-model` and `<name>` in namespace default, the device on `node`. */
export function skeletonManifests(opts: {
  name: string;
  node: string;
  protocol: string;
  configData: Record<string, unknown>;
  properties: SkeletonProperty[];
}): Array<Record<string, unknown>> {
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: `${opts.name}-model`, namespace: 'default' },
    spec: { protocol: opts.protocol, properties: opts.properties.map((p) => p.model) },
  };
  const device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name: opts.name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: `${opts.name}-model` },
      nodeName: opts.node,
      protocol: { protocolName: opts.protocol, configData: opts.configData },
      properties: opts.properties.map((p) => ({
        name: p.model.name,
        visitors: { protocolName: opts.protocol, configData: p.visitor },
        ...p.device,
      })),
    },
  };
  return [model, device];
}
