// Tables and the describe view of controller objects, as plain text.

import type { Device, DeviceModel, PropertyType, Twin, WriteStatus } from '@edgetwin/api';
// modules, not the package index, which would load the validators (ajv, yaml) into every client call
import { ownValue } from '@edgetwin/api/dictionary';
import { sameValue } from '@edgetwin/api/values';
import { lastSeen } from '@edgetwin/api/last-seen';
import type { NodeReportStream } from '../contracts.js';
import type { ControllerEvent } from '../live/event-log.js';
import type { NodeInfo } from '../http/server.js';
import type { FailingPush, RefusedReading } from '../status/merge.js';

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** 5s, 3m, 2h, 4d: the age of a timestamp as kubectl shows it. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '<none>';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '<invalid>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Pushes to sinks that fail, as [property, sink, failure] (status.extensions.push, issue 17). */
function failingPushes(d: Device): Array<[string, string, FailingPush]> {
  const push = (d.status?.extensions as { push?: Record<string, Record<string, FailingPush>> } | undefined)?.push ?? {};
  return Object.entries(push).flatMap(([property, sinks]) =>
    Object.entries(sinks).map(([sink, f]) => [property, sink, f] as [string, string, FailingPush]),
  );
}

/** The device's state, and `push failing` when a push to a sink fails (describe device says which and why). */
function stateWithPush(d: Device): string {
  const state = d.status?.state ?? '<unknown>';
  return failingPushes(d).length ? `${state}, push failing` : state;
}

export function deviceTable(devices: Device[], wide = false, now = Date.now()): string {
  const header = ['NAMESPACE', 'NAME', 'MODEL', 'NODE', 'STATE', 'LAST-SEEN', 'AGE'];
  if (wide) header.push('PROTOCOL', 'PROPERTIES');
  const rows = devices.map((d) => {
    const row = [
      d.metadata.namespace ?? 'default',
      d.metadata.name,
      d.spec.deviceModelRef?.name ?? '<none>',
      d.spec.nodeName || '<none>',
      stateWithPush(d),
      lastSeenAge(d, now),
      age(d.metadata.creationTimestamp, now),
    ];
    if (wide) row.push(d.spec.protocol?.protocolName ?? '', (d.spec.properties ?? []).map((p) => p.name).join(','));
    return row;
  });
  return table(header, rows);
}

export function modelTable(models: DeviceModel[], now = Date.now()): string {
  return table(
    ['NAMESPACE', 'NAME', 'PROTOCOL', 'PROPERTIES', 'AGE'],
    models.map((m) => [
      m.metadata.namespace ?? 'default',
      m.metadata.name,
      m.spec.protocol ?? '',
      String(m.spec.properties?.length ?? 0),
      age(m.metadata.creationTimestamp, now),
    ]),
  );
}

export function nodeTable(nodes: NodeInfo[], now = Date.now()): string {
  return table(
    ['NAME', 'PRESENCE', 'DEVICES', 'SINCE', 'REPORTS'],
    nodes.map((n) => [
      n.name,
      n.presence,
      String(n.devices),
      n.since ? age(n.since, now) : '<never>',
      reportsSummary(n.reports, now),
    ]),
  );
}

/**
 * One line on a node's report stream, so values that stopped arriving are not taken as current:
 * `up to date, last applied 3s ago`, `1,204 queued, last applied 14s ago`, or, while the cloud refuses
 * the node's batches, `refused (gap) x12, 1,204 queued, last applied 2m ago`.
 */
export function reportsSummary(r: NodeReportStream | undefined, now = Date.now()): string {
  if (!r) return '<none since the controller started>';
  const parts: string[] = [];
  const lastApplied = r.lastAppliedAt ? Date.parse(r.lastAppliedAt) : 0;
  if (r.lastRefusal && Date.parse(r.lastRefusal.at) >= lastApplied) {
    const times = r.refused[r.lastRefusal.reason] ?? 0;
    parts.push(`refused (${r.lastRefusal.reason}) x${times.toLocaleString('en-US')}`);
  }
  if (r.held > 0) parts.push(`${r.held} waiting for an earlier batch`);
  if (r.queued > 0) parts.push(`${r.queued.toLocaleString('en-US')} queued`);
  if (parts.length === 0) parts.push('up to date');
  parts.push(r.lastAppliedAt ? `last applied ${age(r.lastAppliedAt, now)} ago` : 'nothing applied yet');
  return parts.join(', ');
}

export { lastSeen };

function lastSeenAge(d: Device, now: number): string {
  const seen = lastSeen(d);
  return seen ? age(seen, now) : '<never>';
}

/** Events as `kubectl describe` prints them: oldest first, a repeat counted (`x12 over 3m`). */
export function eventsTable(events: ControllerEvent[], now = Date.now()): string {
  if (events.length === 0) return 'Events:         <none>';
  const rows = events.map((e) => [
    `  ${e.type}`,
    e.reason,
    e.count > 1
      ? `${age(e.lastTimestamp, now)} (x${e.count} over ${age(e.firstTimestamp, now)})`
      : age(e.lastTimestamp, now),
    e.object.kind === 'Node' ? `node/${e.object.name}` : `device/${e.object.name}`,
    e.message,
  ]);
  return ['Events:', ...table(['  TYPE', 'REASON', 'AGE', 'OBJECT', 'MESSAGE'], rows).split('\n')].join('\n');
}

/** `describe devicemodel`: its properties, the devices that use it. */
export function describeModel(m: DeviceModel, devices: Device[], now = Date.now()): string {
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${`${k}:`.padEnd(16)}${v}`);
  kv('Name', m.metadata.name);
  kv('Namespace', m.metadata.namespace ?? 'default');
  kv('Protocol', m.spec.protocol ?? '<none>');
  kv('Age', age(m.metadata.creationTimestamp, now));
  kv('Devices', devices.map((d) => d.metadata.name).join(', ') || '<none>');
  lines.push('', 'Properties:');
  lines.push(
    ...table(
      ['  PROPERTY', 'TYPE', 'ACCESS', 'MINIMUM', 'MAXIMUM', 'UNIT', 'DESCRIPTION'],
      (m.spec.properties ?? []).map((p) => [
        `  ${p.name}`,
        p.type ?? 'STRING',
        p.accessMode ?? 'ReadWrite',
        p.minimum ?? '-',
        p.maximum ?? '-',
        p.unit ?? '-',
        p.description ?? '',
      ]),
    ).split('\n'),
  );
  return lines.join('\n');
}

/** `describe node`: presence, its devices, its report stream. */
export function describeNode(n: NodeInfo, devices: Device[], now = Date.now()): string {
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${`${k}:`.padEnd(16)}${v}`);
  kv('Name', n.name);
  kv('Presence', n.presence);
  kv('Since', n.since ? `${n.since} (${age(n.since, now)} ago)` : '<never connected since the controller started>');
  kv('Reports', reportsSummary(n.reports, now));
  if (n.reports) kv('Queued', `${n.reports.queued} report(s) on the node, ${n.reports.held} batch(es) held`);
  lines.push('', `Devices (${devices.length}):`);
  if (devices.length > 0)
    lines.push(
      ...table(
        ['  NAME', 'NAMESPACE', 'MODEL', 'STATE', 'LAST-SEEN'],
        devices.map((d) => [
          `  ${d.metadata.name}`,
          d.metadata.namespace ?? 'default',
          d.spec.deviceModelRef?.name ?? '<none>',
          d.status?.state ?? '<unknown>',
          lastSeenAge(d, now),
        ]),
      ).split('\n'),
    );
  return lines.join('\n');
}

/** `describe device`: spec, then desired vs reported per property, state and last seen. */
export function describeDevice(d: Device, model: DeviceModel | null, now = Date.now()): string {
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${`${k}:`.padEnd(16)}${v}`);
  kv('Name', d.metadata.name);
  kv('Namespace', d.metadata.namespace ?? 'default');
  kv('Model', `${d.spec.deviceModelRef?.name ?? '<none>'}${model ? '' : ' (not found)'}`);
  kv('Node', d.spec.nodeName || '<none> (not dispatched)');
  kv('Protocol', d.spec.protocol?.protocolName ?? model?.spec.protocol ?? '<none>');
  kv('State', d.status?.state ?? '<unknown>');
  const seen = lastSeen(d);
  kv('Last seen', seen ? `${seen} (${age(seen, now)} ago)` : '<never>');
  kv('Version', `resourceVersion ${d.metadata.resourceVersion ?? '?'}, generation ${d.metadata.generation ?? '?'}`);
  const labels = Object.entries(d.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  kv('Labels', labels.length ? labels.join(', ') : '<none>');
  lines.push('', 'Properties:');
  const mprops = new Map((model?.spec.properties ?? []).map((p) => [p.name, p]));
  const twins = new Map((d.status?.twins ?? []).map((t) => [t.propertyName, t]));
  const writes = ((d.status?.extensions as { writes?: Record<string, WriteStatus> } | undefined)?.writes ??
    {}) as Record<string, WriteStatus>;
  const rows = (d.spec.properties ?? []).map((p) => {
    const mp = mprops.get(p.name);
    const twin: Twin | undefined = twins.get(p.name);
    const w = ownValue(writes, p.name);
    const unit = mp?.unit ? ` ${mp.unit}` : '';
    const reportedAt = twin?.reported?.metadata?.timestamp;
    return [
      p.name,
      `${mp?.type ?? '?'}${mp?.accessMode === 'ReadOnly' ? ' RO' : ''}`,
      p.desired?.value !== undefined ? p.desired.value + unit : '-',
      twin?.reported ? twin.reported.value + unit : '<none>',
      twin?.observedDesired ? twin.observedDesired.value : '-',
      w ? `${w.state}${w.reason ? ` (${w.reason})` : ''}` : '-',
      reportedAt && Number.isFinite(Number(reportedAt))
        ? `${age(new Date(Number(reportedAt)).toISOString(), now)} ago`
        : '-',
      inSync(mp?.type, p.desired?.value, twin) ? '' : 'pending',
    ];
  });
  lines.push(
    ...table(
      ['  PROPERTY', 'TYPE', 'DESIRED', 'REPORTED', 'OBSERVED-DESIRED', 'WRITE', 'REPORTED-AT', 'SYNC'],
      rows.map((r) => [`  ${r[0]}`, ...r.slice(1)]),
    ).split('\n'),
  );
  const refused = Object.entries(
    (d.status?.extensions as { refused?: Record<string, RefusedReading> } | undefined)?.refused ?? {},
  );
  if (refused.length) {
    // issue 9 §5: a reading the model refuses is kept out of the twin; say which and why, not just "stale"
    lines.push('', 'Refused readings (not in the twin; the mapper resends when the value or the model changes):');
    lines.push(
      ...table(
        ['  PROPERTY', 'VALUE', 'REASON', 'SINCE'],
        refused.map(([name, r]) => [
          `  ${name}`,
          JSON.stringify(r.value),
          r.reason,
          Number.isFinite(r.timestamp) ? `${age(new Date(r.timestamp).toISOString(), now)} ago` : '-',
        ]),
      ).split('\n'),
    );
  }
  const failing = failingPushes(d);
  if (failing.length) {
    // issue 17: a sink that cannot be written (down, credentials refused) holds the readings in its bounded buffer
    lines.push('', 'Pushes failing (readings buffered by the mapper, oldest dropped beyond its bound):');
    lines.push(
      ...table(
        ['  PROPERTY', 'SINK', 'REASON', 'SINCE'],
        failing.map(([property, sink, f]) => [
          `  ${property}`,
          sink,
          f.reason,
          Number.isFinite(f.timestamp) ? `${age(new Date(f.timestamp).toISOString(), now)} ago` : '-',
        ]),
      ).split('\n'),
    );
  }
  const methods = d.spec.methods ?? [];
  if (methods.length) {
    // spec.methods (issue 17): what `edgetwin call` and the mapper REST API can write, with the types
    lines.push('', 'Methods:');
    const mrows = methods.map((m) => [
      `  ${m.name}`,
      (m.propertyNames ?? []).map((pn) => `${pn} (${mprops.get(pn)?.type ?? '?'})`).join(', ') || '-',
      m.description ?? '',
    ]);
    lines.push(...table(['  METHOD', 'WRITES', 'DESCRIPTION'], mrows).split('\n'));
  }
  return lines.join('\n');
}

/** A desired value is in sync when the device reports it, compared as typed values ("1.0" equals "1"). */
function inSync(type: PropertyType | undefined, desired: string | undefined, twin: Twin | undefined): boolean {
  if (desired === undefined) return true;
  return sameValue(type, twin?.reported?.value, desired);
}

/**
 * A value of a property's type for a usage hint (issue 16 §3: `twin set` suggested `setpoint=21.5` for an
 * ON/OFF lamp): the value it reports now when there is one, else one inside the model's bounds.
 */
export function exampleValue(
  mp: { type?: PropertyType; minimum?: string; maximum?: string } | undefined,
  current?: string,
): string {
  if (current !== undefined && current !== '') return current;
  switch (mp?.type) {
    case 'INT':
      return mp.minimum ?? mp.maximum ?? '1';
    case 'FLOAT':
    case 'DOUBLE':
      return mp.minimum ?? mp.maximum ?? '21.5';
    case 'BOOLEAN':
      return 'true';
    case 'BYTES':
      return 'aGVsbG8=';
    default:
      return 'ON';
  }
}
