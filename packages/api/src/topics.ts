// Every MQTT topic of edgetwin is built and parsed here, so no other package spells one by hand.
//
// Three families:
//  - KubeEdge's edge contract ($hw/events/...), two-level device IDs as in KubeEdge >= 1.17 (reference §3.1);
//  - the mapper-facing contract (edgetwin/v1/...): resolved device specs for mappers, write acknowledgements;
//  - the cloud link (edgetwin/cloud/v1/...) between an edge node and the cloud controller.

import { type DeviceId, splitId } from './types.js';

const DEVICE_PREFIX = '$hw/events/device/';
const NODE_PREFIX = '$hw/events/node/';

/** Suffixes a client sends to the twin. */
export const DEVICE_IN = ['twin/update', 'twin/get', 'state/update', 'twin/cloud_updated'] as const;
export type DeviceInSuffix = (typeof DEVICE_IN)[number];
/** Suffixes the twin publishes. */
export const DEVICE_OUT = [
  'twin/update/result',
  'twin/update/delta',
  'twin/update/document',
  'twin/get/result',
  'state/update/result',
  'updated',
] as const;
export type DeviceOutSuffix = (typeof DEVICE_OUT)[number];
export type DeviceSuffix = DeviceInSuffix | DeviceOutSuffix;

export function deviceTopic(id: DeviceId, suffix: DeviceSuffix): string {
  const { namespace, name } = splitId(id);
  return `${DEVICE_PREFIX}${namespace}/${name}/${suffix}`;
}

export function membershipUpdatedTopic(node: string): string {
  return `${NODE_PREFIX}${node}/membership/updated`;
}
export function membershipGetTopic(node: string): string {
  return `${NODE_PREFIX}${node}/membership/get`;
}
export function membershipGetResultTopic(node: string): string {
  return `${NODE_PREFIX}${node}/membership/get/result`;
}

/** Filters the twin subscribes to (the same set KubeEdge's EventBus subscribes, reference §4). */
export const TWIN_SUBSCRIPTIONS = [
  '$hw/events/device/+/+/twin/update',
  '$hw/events/device/+/+/twin/get',
  '$hw/events/device/+/+/state/update',
  '$hw/events/node/+/membership/get',
] as const;

export type ParsedTopic =
  | { kind: 'device'; id: DeviceId; namespace: string; name: string; suffix: DeviceSuffix }
  | { kind: 'membership-get'; node: string }
  | { kind: 'invalid'; reason: string };

const SUFFIXES = new Set<string>([...DEVICE_IN, ...DEVICE_OUT]);

/** Parses a `$hw/events/...` topic; anything else, or extra/missing levels, is `invalid` with a reason. */
export function parseEdgeTopic(topic: string): ParsedTopic {
  if (topic.startsWith(DEVICE_PREFIX)) {
    const rest = topic.slice(DEVICE_PREFIX.length).split('/');
    if (rest.length < 3) return { kind: 'invalid', reason: `topic ${topic} has no {namespace}/{name}/{action} levels` };
    const [namespace, name, ...tail] = rest as [string, string, ...string[]];
    const suffix = tail.join('/');
    if (!namespace || !name) return { kind: 'invalid', reason: `topic ${topic} has an empty namespace or name level` };
    if (!SUFFIXES.has(suffix)) return { kind: 'invalid', reason: `topic ${topic}: unknown action "${suffix}"` };
    return { kind: 'device', id: `${namespace}/${name}`, namespace, name, suffix: suffix as DeviceSuffix };
  }
  if (topic.startsWith(NODE_PREFIX)) {
    const rest = topic.slice(NODE_PREFIX.length).split('/');
    if (rest.length === 3 && rest[0] && rest[1] === 'membership' && rest[2] === 'get') {
      return { kind: 'membership-get', node: rest[0] };
    }
    return { kind: 'invalid', reason: `topic ${topic} is not $hw/events/node/{node}/membership/get` };
  }
  return { kind: 'invalid', reason: `topic ${topic} is not under $hw/events/` };
}

// ---- mapper-facing contract (docs/mapper-contract.md) ----

const MAPPER_ROOT = 'edgetwin/v1';

/** Retained: the resolved spec (ResolvedDevice JSON) of one device for the mapper of `protocol`; empty payload = removed. */
export function mapperDeviceTopic(node: string, protocol: string, id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/nodes/${node}/mappers/${protocol}/devices/${namespace}/${name}`;
}
/** Filter a mapper of `protocol` subscribes to learn all its devices. */
export function mapperDevicesFilter(node: string, protocol: string): string {
  return `${MAPPER_ROOT}/nodes/${node}/mappers/${protocol}/devices/+/+`;
}
/** Retained mapper presence ("online" / "offline", the latter as last will). */
export function mapperPresenceTopic(node: string, protocol: string): string {
  return `${MAPPER_ROOT}/nodes/${node}/mappers/${protocol}/presence`;
}
/** Mapper -> twin: write acknowledgements of desired values (WriteStatus JSON). */
export function writeStatusTopic(id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/devices/${namespace}/${name}/write/status`;
}
export const WRITE_STATUS_FILTER = `${MAPPER_ROOT}/devices/+/+/write/status`;
/**
 * Mapper -> twin: "send me this device's delta" (payload ignored). The twin answers on the device's
 * twin/update/delta topic when some desired value is pending, so a mapper that starts serving a device
 * learns its desired values by the one route there is, the delta (issue 9 §5).
 */
export function deltaRequestTopic(id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/devices/${namespace}/${name}/delta/get`;
}
export const DELTA_REQUEST_FILTER = `${MAPPER_ROOT}/devices/+/+/delta/get`;
/** Mapper -> twin: a property's reading refused by the model, or accepted again (ReportStatus JSON). */
export function reportStatusTopic(id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/devices/${namespace}/${name}/report/status`;
}
export const REPORT_STATUS_FILTER = `${MAPPER_ROOT}/devices/+/+/report/status`;
/** Mapper -> twin: a property's push to a sink failing, or working again (PushStatus JSON). */
export function pushStatusTopic(id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/devices/${namespace}/${name}/push/status`;
}
export const PUSH_STATUS_FILTER = `${MAPPER_ROOT}/devices/+/+/push/status`;
/**
 * Mapper -> twin: the report channel of our own mappers (issue 15, mapper-reports.ts): one message per
 * flush with many devices' readings. Third-party mappers keep KubeEdge's twin/update.
 */
export function reportsTopic(node: string, protocol: string): string {
  return `${MAPPER_ROOT}/nodes/${node}/mappers/${protocol}/reports`;
}
export function reportsFilter(node: string): string {
  return `${MAPPER_ROOT}/nodes/${node}/mappers/+/reports`;
}
/** Twin -> mapper: what the twin refused of a report batch (and refusals that ended); nothing when all is taken. */
export function reportAnswerTopic(node: string, protocol: string): string {
  return `${MAPPER_ROOT}/nodes/${node}/mappers/${protocol}/reports/refused`;
}
/** The node and protocol of a reportsTopic, or undefined for any other topic. */
export function parseReportsTopic(topic: string): { node: string; protocol: string } | undefined {
  const p = topic.split('/');
  if (
    p.length !== 7 ||
    p[0] !== 'edgetwin' ||
    p[1] !== 'v1' ||
    p[2] !== 'nodes' ||
    p[4] !== 'mappers' ||
    p[6] !== 'reports'
  )
    return undefined;
  if (!p[3] || !p[5]) return undefined;
  return { node: p[3] as string, protocol: p[5] as string };
}
/** Default topic for a property's data push when `pushMethod.mqtt.topic` is empty. */
export function dataTopic(id: DeviceId): string {
  const { namespace, name } = splitId(id);
  return `$ke/events/device/${namespace}/${name}/data/update`;
}

/**
 * Binary media a mapper publishes for a property (issue 13): the JPEG of an ONVIF camera's `snapshot`, one
 * message per frame, never through the twin (the twin holds the snapshot's metadata).
 */
export function mediaTopic(id: DeviceId, property: string): string {
  const { namespace, name } = splitId(id);
  return `${MAPPER_ROOT}/devices/${namespace}/${name}/media/${property}`;
}

export function parseMapperDeviceTopic(topic: string): { node: string; protocol: string; id: DeviceId } | undefined {
  const p = topic.split('/');
  if (
    p.length !== 9 ||
    p[0] !== 'edgetwin' ||
    p[1] !== 'v1' ||
    p[2] !== 'nodes' ||
    p[4] !== 'mappers' ||
    p[6] !== 'devices'
  )
    return undefined;
  return { node: p[3] as string, protocol: p[5] as string, id: `${p[7]}/${p[8]}` };
}

export function parseWriteStatusTopic(topic: string): DeviceId | undefined {
  return parseMapperRequestTopic(topic, 'write', 'status');
}

export function parseReportStatusTopic(topic: string): DeviceId | undefined {
  return parseMapperRequestTopic(topic, 'report', 'status');
}

export function parsePushStatusTopic(topic: string): DeviceId | undefined {
  return parseMapperRequestTopic(topic, 'push', 'status');
}

export function parseDeltaRequestTopic(topic: string): DeviceId | undefined {
  return parseMapperRequestTopic(topic, 'delta', 'get');
}

/** The device of edgetwin/v1/devices/{ns}/{name}/{a}/{b}, or undefined for any other topic. */
function parseMapperRequestTopic(topic: string, a: string, b: string): DeviceId | undefined {
  const p = topic.split('/');
  if (p.length !== 7 || p[0] !== 'edgetwin' || p[1] !== 'v1' || p[2] !== 'devices' || p[5] !== a || p[6] !== b)
    return undefined;
  return `${p[3]}/${p[4]}`;
}

// ---- cloud link (docs/cloud-link.md) ----

const CLOUD_ROOT = 'edgetwin/cloud/v1/nodes';

export const cloudTopics = {
  /** cloud -> edge, retained: full Device JSON, empty payload = deleted */
  device: (node: string, id: DeviceId) => `${CLOUD_ROOT}/${node}/desired/devices/${id}`,
  /** cloud -> edge, retained: full DeviceModel JSON, empty payload = deleted */
  model: (node: string, id: string) => `${CLOUD_ROOT}/${node}/desired/models/${id}`,
  /** cloud -> edge, retained: DesiredIndex (what the node must hold, by resourceVersion) */
  index: (node: string) => `${CLOUD_ROOT}/${node}/desired/index`,
  /** everything the cloud sends one node */
  desiredFilter: (node: string) => `${CLOUD_ROOT}/${node}/desired/#`,
  /** edge -> cloud, QoS 1: ReportBatch */
  reports: (node: string) => `${CLOUD_ROOT}/${node}/reports`,
  /** cloud -> edge, retained: ReportAck */
  acks: (node: string) => `${CLOUD_ROOT}/${node}/acks`,
  /** edge -> cloud, retained: "online", last will "offline" */
  presence: (node: string) => `${CLOUD_ROOT}/${node}/presence`,
  /** cloud subscriptions (wildcards over nodes) */
  allReports: `${CLOUD_ROOT}/+/reports`,
  allPresence: `${CLOUD_ROOT}/+/presence`,
  root: CLOUD_ROOT,
};

// Kubernetes node names are DNS subdomains; anything else could smuggle topic levels or wildcards, or a space
// (which makes nats-server drop the publisher).
const NODE_NAME = /^[a-z0-9A-Z]([a-z0-9A-Z._-]{0,251}[a-z0-9A-Z])?$/;

/** A name the cloud link can use as a node's topic level and username. */
export const isNodeName = (name: string): boolean => NODE_NAME.test(name);

/**
 * The one MQTT client id of node `node` on the cloud link. A `.` (Kubernetes node names may hold one) becomes
 * `~`, which no node name holds: nats-server refuses a client id with a `.` (docs/decisions.md, issue 14).
 */
export const edgeClientId = (node: string) => `edgetwin-edge-${node.replaceAll('.', '~')}`;

export function parseCloudTopic(
  topic: string,
):
  | { node: string; kind: 'device' | 'model'; id: string }
  | { node: string; kind: 'index' | 'reports' | 'acks' | 'presence' }
  | undefined {
  if (!topic.startsWith(`${CLOUD_ROOT}/`)) return undefined;
  const p = topic.slice(CLOUD_ROOT.length + 1).split('/');
  const node = p[0];
  if (!node) return undefined;
  if (p.length === 2 && (p[1] === 'reports' || p[1] === 'acks' || p[1] === 'presence')) return { node, kind: p[1] };
  if (p.length === 3 && p[1] === 'desired' && p[2] === 'index') return { node, kind: 'index' };
  if (p.length === 5 && p[1] === 'desired' && (p[2] === 'devices' || p[2] === 'models'))
    return { node, kind: p[2] === 'devices' ? 'device' : 'model', id: `${p[3]}/${p[4]}` };
  return undefined;
}
