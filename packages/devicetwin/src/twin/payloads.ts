// Builds the JSON the twin publishes, with KubeEdge's exact field names (reference/kubeedge.md §3.2).

import { randomUUID } from 'node:crypto';
import {
  dictionary,
  type MembershipDevice,
  type MembershipGetResult,
  type MembershipUpdated,
  type MsgTwin,
  type StateUpdateResult,
  sameValue,
  type TwinDeltaMessage,
  type TwinDocumentMessage,
  twinMetadataType,
} from '@edgetwin/api';
import type { DeviceRecord, TwinRecord } from './records.js';

export function msgTwinOf(t: TwinRecord, withVersions: boolean): MsgTwin {
  const m: MsgTwin = {};
  if (t.expected !== undefined) m.expected = { value: t.expected, metadata: { timestamp: t.expectedTs } };
  if (t.actual !== undefined) m.actual = { value: t.actual, metadata: { timestamp: t.actualTs } };
  m.optional = t.optional;
  m.metadata = { type: twinMetadataType(t.type) };
  if (withVersions) {
    m.expected_version = { ...t.expectedVersion };
    m.actual_version = { ...t.actualVersion };
  }
  return m;
}

export function twinMap(dev: DeviceRecord): Record<string, MsgTwin> {
  const out = dictionary<MsgTwin>();
  for (const t of dev.twins.values()) out[t.name] = msgTwinOf(t, false);
  return out;
}

/** Properties whose desired value the device does not have yet, by typed comparison. */
export function pendingDelta(dev: DeviceRecord): Record<string, string> {
  const delta = dictionary<string>();
  for (const t of dev.twins.values()) {
    if (t.expected === undefined || t.expected === '') continue;
    if (!sameValue(t.type, t.expected, t.actual)) delta[t.name] = t.expected;
  }
  return delta;
}

export function deltaMessage(dev: DeviceRecord, now: number): TwinDeltaMessage | undefined {
  const delta = pendingDelta(dev);
  if (Object.keys(delta).length === 0) return undefined;
  return { event_id: randomUUID(), timestamp: now, twin: twinMap(dev), delta };
}

export function documentMessage(
  eventId: string,
  changes: Array<{ name: string; last: TwinRecord | undefined; current: TwinRecord | undefined }>,
  now: number,
): TwinDocumentMessage {
  const twin: TwinDocumentMessage['twin'] = dictionary();
  for (const c of changes) {
    twin[c.name] = {
      last: c.last ? msgTwinOf(c.last, true) : null,
      current: c.current ? msgTwinOf(c.current, true) : null,
    };
  }
  return { event_id: eventId, timestamp: now, twin };
}

export function stateResult(eventId: string, dev: DeviceRecord, now: number): StateUpdateResult {
  return {
    event_id: eventId,
    timestamp: now,
    device: { name: dev.name, state: dev.state, lastOnlineTime: dev.lastOnline },
  };
}

export function membershipDevice(dev: DeviceRecord, withState: boolean): MembershipDevice {
  const d: MembershipDevice = { id: dev.id, name: dev.name };
  if (dev.description) d.description = dev.description;
  if (withState) {
    d.state = dev.state;
    d.last_online = dev.lastOnline;
  }
  return d;
}

export function membershipUpdated(added: DeviceRecord[], removed: DeviceRecord[], now: number): MembershipUpdated {
  return {
    event_id: randomUUID(),
    timestamp: now,
    added_devices: added.length ? added.map((d) => membershipDevice(d, false)) : null,
    removed_devices: removed.length ? removed.map((d) => membershipDevice(d, false)) : null,
  };
}

export function membershipGetResult(
  eventId: string,
  devices: Iterable<DeviceRecord>,
  now: number,
): MembershipGetResult {
  return { event_id: eventId, timestamp: now, devices: [...devices].map((d) => membershipDevice(d, true)) };
}

/** RFC 3339 UTC with second precision, as KubeEdge writes lastOnlineTime. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
