// Converts KubeEdge devices.kubeedge.io/v1alpha2 Device and DeviceModel manifests to v1beta1, the only
// version our CRDs serve (docs/crds.md says why). The mapping follows KubeEdge's own field moves
// (reference/kubeedge.md §1-2): protocol blocks become protocolName + flat configData, propertyVisitors
// become properties[].visitors, status.twins[].desired becomes properties[].desired, nodeSelector becomes
// nodeName, and typed model properties become type/accessMode/minimum/maximum strings.

import { API_VERSION } from '../types.js';

type Obj = Record<string, unknown>;

export interface Conversion {
  object: Obj;
  /** what changed or was dropped, one sentence each */
  notes: string[];
}

const PROTOCOL_BLOCKS = ['modbus', 'opcua', 'bluetooth'] as const;
const TYPE_BLOCKS: Record<string, string> = {
  int: 'INT',
  string: 'STRING',
  double: 'DOUBLE',
  float: 'FLOAT',
  boolean: 'BOOLEAN',
  bytes: 'BYTES',
};

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Returns undefined for kinds it cannot convert (DeviceStatus had no v1alpha2 object form). */
export function convertV1alpha2(input: Obj): Conversion | undefined {
  if (input.kind === 'Device') return convertDevice(input);
  if (input.kind === 'DeviceModel') return convertModel(input);
  return undefined;
}

function convertDevice(input: Obj): Conversion {
  const notes: string[] = [];
  const spec = obj(input.spec) ?? {};
  const out: Obj = {};
  if (spec.deviceModelRef !== undefined) out.deviceModelRef = spec.deviceModelRef;

  const terms = arr(obj(spec.nodeSelector)?.nodeSelectorTerms);
  const expr = obj(arr(obj(terms[0])?.matchExpressions)[0]);
  const node = arr(expr?.values)[0];
  if (typeof node === 'string') {
    out.nodeName = node;
    notes.push(
      `spec.nodeSelector became spec.nodeName "${node}" (the first value of the first term, as KubeEdge reads it)`,
    );
  }

  const protocol = obj(spec.protocol) ?? {};
  let protocolName: string | undefined;
  const configData: Obj = {};
  for (const p of PROTOCOL_BLOCKS) {
    const block = obj(protocol[p]);
    if (block !== undefined) {
      protocolName = p;
      Object.assign(configData, block);
    }
  }
  const custom = obj(protocol.customizedProtocol);
  if (custom !== undefined) {
    if (typeof custom.protocolName === 'string') protocolName = custom.protocolName;
    Object.assign(configData, obj(custom.configData) ?? {});
  }
  const common = obj(protocol.common);
  if (common !== undefined) {
    const { com, tcp, customizedValues, ...rest } = common;
    Object.assign(configData, obj(com) ?? {}, obj(tcp) ?? {}, rest, obj(customizedValues) ?? {});
  }
  if (protocolName !== undefined || Object.keys(configData).length > 0) {
    out.protocol = {
      ...(protocolName !== undefined ? { protocolName } : {}),
      ...(Object.keys(configData).length > 0 ? { configData } : {}),
    };
    notes.push(`spec.protocol became protocolName "${protocolName ?? ''}" with a flat configData`);
  }

  const desiredByName = new Map<string, unknown>();
  for (const t of arr(obj(input.status)?.twins)) {
    const twin = obj(t);
    if (typeof twin?.propertyName === 'string' && twin.desired !== undefined)
      desiredByName.set(twin.propertyName, twin.desired);
  }
  const properties: Obj[] = [];
  for (const v of arr(spec.propertyVisitors)) {
    const pv = obj(v) ?? {};
    const prop: Obj = { name: pv.propertyName };
    const visitorConfig: Obj = {};
    let visitorProtocol: string | undefined;
    for (const p of PROTOCOL_BLOCKS) {
      const block = obj(pv[p]);
      if (block !== undefined) {
        visitorProtocol = p;
        Object.assign(visitorConfig, block);
      }
    }
    const cp = obj(pv.customizedProtocol);
    if (cp !== undefined) {
      if (typeof cp.protocolName === 'string') visitorProtocol = cp.protocolName;
      Object.assign(visitorConfig, obj(cp.configData) ?? {});
    }
    Object.assign(visitorConfig, obj(pv.customizedValues) ?? {});
    prop.visitors = {
      ...(visitorProtocol !== undefined ? { protocolName: visitorProtocol } : {}),
      configData: visitorConfig,
    };
    // v1alpha2 cycles are nanoseconds (Go time.Duration in the v1alpha2 mappers); v1beta1's are milliseconds
    for (const key of ['collectCycle', 'reportCycle'] as const) {
      const ns = pv[key];
      if (ns === undefined) continue;
      if (typeof ns === 'number' && Number.isFinite(ns) && ns > 0) {
        prop[key] = Math.max(1, Math.round(ns / 1e6));
        notes.push(`propertyVisitors "${String(pv.propertyName)}": ${key} ${ns} ns became ${prop[key]} ms`);
      } else prop[key] = ns;
    }
    if (typeof pv.propertyName === 'string' && desiredByName.has(pv.propertyName)) {
      prop.desired = desiredByName.get(pv.propertyName);
      desiredByName.delete(pv.propertyName);
    }
    properties.push(prop);
  }
  for (const [name, desired] of desiredByName) properties.push({ name, desired });
  if (properties.length > 0) {
    out.properties = properties;
    notes.push('spec.propertyVisitors and status.twins[].desired became spec.properties');
  }
  if (spec.data !== undefined)
    notes.push('spec.data was dropped: v1beta1 has no equivalent (use pushMethod per property)');
  return { object: { apiVersion: API_VERSION, kind: 'Device', metadata: input.metadata, spec: out }, notes };
}

function convertModel(input: Obj): Conversion {
  const notes: string[] = [];
  const spec = obj(input.spec) ?? {};
  const out: Obj = {};
  if (spec.protocol !== undefined) out.protocol = spec.protocol;
  const properties: Obj[] = [];
  for (const raw of arr(spec.properties)) {
    const p = obj(raw) ?? {};
    const prop: Obj = { name: p.name };
    if (p.description !== undefined) prop.description = p.description;
    const typeBlock = obj(p.type) ?? {};
    for (const [key, type] of Object.entries(TYPE_BLOCKS)) {
      const t = obj(typeBlock[key]);
      if (t === undefined) continue;
      prop.type = type;
      if (t.accessMode !== undefined) prop.accessMode = t.accessMode;
      if (t.minimum !== undefined) prop.minimum = String(t.minimum);
      if (t.maximum !== undefined) prop.maximum = String(t.maximum);
      if (t.unit !== undefined) prop.unit = t.unit;
      if (t.defaultValue !== undefined)
        notes.push(
          `spec.properties "${String(p.name)}": defaultValue ${JSON.stringify(t.defaultValue)} dropped (v1beta1 has none; set desired on the device)`,
        );
    }
    properties.push(prop);
  }
  if (properties.length > 0) out.properties = properties;
  notes.push('typed spec.properties[].type blocks became type/accessMode/minimum/maximum');
  return { object: { apiVersion: API_VERSION, kind: 'DeviceModel', metadata: input.metadata, spec: out }, notes };
}
