// The mapper-facing device config: the resolved spec of each device, retained on
// edgetwin/v1/nodes/{node}/mappers/{protocol}/devices/{ns}/{name} (docs/mapper-contract.md).
// A spec is republished only when it changes (resourceVersion alone does not count), so a status patch in
// the cloud never restarts a device in its mapper (KubeEdge issue #6269).

import { type DeviceModel, mapperDeviceTopic, type ResolvedDevice, resolveDevice } from '@edgetwin/api';
import type { Effects } from './effects.js';
import type { DeviceRecord } from './records.js';

export class MapperSpecs {
  private readonly published = new Map<string, { protocol: string; key: string }>();

  constructor(private readonly node: string) {}

  /** Publishes the spec if it changed (or always, with force); unpublishes it from a previous protocol. */
  publish(dev: DeviceRecord, model: DeviceModel, fx: Effects, force = false): ResolvedDevice {
    const resolved = resolveDevice(dev.device, model);
    const { version: _version, ...content } = resolved;
    const key = JSON.stringify(content);
    const prev = this.published.get(dev.id);
    if (prev && prev.protocol !== resolved.protocol)
      fx.publish(mapperDeviceTopic(this.node, prev.protocol, dev.id), '', true);
    if (!force && prev && prev.protocol === resolved.protocol && prev.key === key) return resolved;
    fx.publish(mapperDeviceTopic(this.node, resolved.protocol, dev.id), JSON.stringify(resolved), true);
    this.published.set(dev.id, { protocol: resolved.protocol, key });
    return resolved;
  }

  unpublish(id: string, fx: Effects): void {
    const prev = this.published.get(id);
    if (!prev) return;
    fx.publish(mapperDeviceTopic(this.node, prev.protocol, id), '', true);
    this.published.delete(id);
  }

  /** After a failed transaction the in-memory view is rebuilt; forget what was published so it is redone. */
  clear(): void {
    this.published.clear();
  }
}
