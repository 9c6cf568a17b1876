// Folds edge reports into a device's status, in the layout KubeEdge uses for DeviceStatus (1.23+) and
// Device.status (<= 1.22): twins[] {propertyName, reported, observedDesired}, state, lastOnlineTime.
// Write acknowledgements from mappers go to status.extensions.writes[property], readings the model refused
// to status.extensions.refused[property] (edgetwin extensions).
// Unlike KubeEdge (issues #5327, #5468), the first report of a property creates the twin WITH its value.

import {
  type Device,
  type DeviceStatusFields,
  type OutboxEntry,
  ownValue,
  setOwn,
  type Twin,
  type TwinProperty,
  type TwinReportEntry,
  type WriteStatus,
} from '@edgetwin/api';

export interface WritesExtension {
  writes?: Record<string, WriteStatus>;
  /** readings the mapper kept out of the twin because the model refuses them, by property (issue 9 §5) */
  refused?: Record<string, RefusedReading>;
  /** pushes to sinks that fail, by property and sink label, while they fail (issue 17) */
  push?: Record<string, Record<string, FailingPush>>;
}

/** A property's failing push to a sink (issue 17): status.extensions.push[property][sink]. */
export interface FailingPush {
  reason: string;
  /** when the mapper saw it fail (ms) */
  timestamp: number;
}

export interface RefusedReading {
  value: string;
  reason: string;
  timestamp: number;
}

/** Applies one report to `status` in place; returns false if it changed nothing (a repeat or an unknown property). */
export function mergeReport(device: Device, status: DeviceStatusFields, entry: OutboxEntry): boolean {
  switch (entry.kind) {
    case 'twin': {
      const known = new Set((device.spec.properties ?? []).map((p) => p.name));
      let changed = false;
      for (const t of entry.twins) {
        // KubeEdge keeps twins only for properties in spec; a report for anything else is not status.
        if (!known.has(t.property)) continue;
        if (mergeTwin(status, t)) changed = true;
      }
      return changed;
    }
    case 'state': {
      if (status.state === entry.state && status.lastOnlineTime === entry.lastOnlineTime) return false;
      status.state = entry.state;
      if (entry.lastOnlineTime) status.lastOnlineTime = entry.lastOnlineTime;
      return true;
    }
    case 'write': {
      status.extensions ??= {};
      const ext = status.extensions as WritesExtension;
      ext.writes ??= {};
      const writes = ext.writes;
      // writes comes from JSON (a plain object): `constructor` or `__proto__` must stay a property name.
      const prev = ownValue(writes, entry.status.property);
      if (prev && JSON.stringify(prev) === JSON.stringify(entry.status)) return false;
      setOwn(writes, entry.status.property, entry.status);
      return true;
    }
    case 'refused-reading': {
      const { property, state, value, reason, timestamp } = entry.status;
      status.extensions ??= {};
      const ext = status.extensions as WritesExtension;
      const prev = ext.refused ? ownValue(ext.refused, property) : undefined;
      // entries come in seq order (the edge's order): the last one says, whatever its clock
      if (state === 'accepted') {
        if (!prev) return false;
        delete ext.refused![property];
        if (Object.keys(ext.refused!).length === 0) delete ext.refused;
        return true;
      }
      if (prev && prev.value === value && prev.reason === reason) return false;
      ext.refused ??= {};
      setOwn(ext.refused, property, { value: value ?? '', reason: reason ?? '', timestamp });
      return true;
    }
    case 'push-status': {
      const { property, sink, state, reason, timestamp } = entry.status;
      status.extensions ??= {};
      const ext = status.extensions as WritesExtension;
      const sinks = ext.push ? ownValue(ext.push, property) : undefined;
      const prev = sinks ? ownValue(sinks, sink) : undefined;
      if (state === 'ok') {
        if (!prev) return false;
        delete sinks![sink];
        if (Object.keys(sinks!).length === 0) delete ext.push![property];
        if (Object.keys(ext.push!).length === 0) delete ext.push;
        return true;
      }
      if (prev && prev.reason === reason) return false;
      ext.push ??= {};
      const bySink = sinks ?? {};
      setOwn(bySink, sink, { reason: reason ?? '', timestamp: prev?.timestamp ?? timestamp });
      setOwn(ext.push, property, bySink);
      return true;
    }
  }
}

function mergeTwin(status: DeviceStatusFields, t: TwinReportEntry): boolean {
  status.twins ??= [];
  const twins = status.twins;
  let twin = twins.find((x) => x.propertyName === t.property);
  if (!twin) {
    twin = { propertyName: t.property };
    twins.push(twin);
  }
  let changed = false;
  if (t.reported && differs(twin.reported, t.reported)) {
    twin.reported = {
      value: t.reported.value,
      metadata: { timestamp: String(t.reported.timestamp), type: t.reported.type },
    };
    changed = true;
  }
  if (t.observedDesired && differs(twin.observedDesired, t.observedDesired)) {
    twin.observedDesired = {
      value: t.observedDesired.value,
      metadata: {
        timestamp: String(t.observedDesired.timestamp),
        type: t.observedDesired.type,
        source: t.observedDesired.source,
      },
    };
    changed = true;
  }
  return changed;
}

/**
 * Reports are merged in the order they are given: the cloud link applies a node's reports in seq order,
 * exactly once (docs/cloud-link.md), so a later one is newer whatever its timestamp says. Comparing
 * timestamps would freeze the values of an edge whose clock was set back (NTP correcting a fast clock, a
 * gateway restored with a wrong RTC) until its clock passed the old readings again (issue 9 §2). Only an
 * exact repeat changes nothing.
 */
function differs(stored: TwinProperty | undefined, incoming: { value: string; timestamp: number }): boolean {
  if (!stored) return true;
  return stored.value !== incoming.value || stored.metadata?.timestamp !== String(incoming.timestamp);
}

/** The twin of a property in a status, if any. */
export function twinOf(status: DeviceStatusFields | undefined, property: string): Twin | undefined {
  return status?.twins?.find((t) => t.propertyName === property);
}
