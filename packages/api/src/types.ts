// Device, DeviceModel and DeviceStatus of devices.kubeedge.io/v1beta1, as KubeEdge serves them
// (reference/kubeedge.md §1), plus the few fields edgetwin adds (marked "edgetwin extension").

export const GROUP = 'devices.kubeedge.io';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

export type ConfigData = Record<string, unknown>;

export interface TwinProperty {
  value: string;
  metadata?: Record<string, string>;
}

export interface VisitorConfig {
  protocolName?: string;
  configData?: ConfigData;
}

export interface ProtocolConfig {
  protocolName?: string;
  configData?: ConfigData | null;
}

export interface PushMethod {
  http?: { hostName?: string; port?: number; requestPath?: string; timeout?: number };
  mqtt?: { address?: string; topic?: string; qos?: number; retained?: boolean };
  otel?: { endpointURL?: string };
  anomalyDetection?: Record<string, unknown>;
  dbMethod?: Record<string, unknown>;
}

/** edgetwin extension: when a mapper tells the twin about a new reading. */
export interface ReportStrategy {
  /** cycle: every collectCycle; change: when the value changes; deadband: when it moves more than `deadband`. */
  mode?: 'cycle' | 'change' | 'deadband';
  /** absolute deadband, in engineering units, for mode=deadband */
  deadband?: number;
  /** report even an unchanged value after this much silence (ms); 0 = never */
  maxSilenceMs?: number;
}

export interface DeviceProperty {
  name: string;
  desired?: TwinProperty;
  visitors?: VisitorConfig;
  reportCycle?: number;
  collectCycle?: number;
  reportToCloud?: boolean;
  pushMethod?: PushMethod;
  /** edgetwin extension */
  report?: ReportStrategy;
}

export interface DeviceMethod {
  name: string;
  description?: string;
  propertyNames?: string[];
}

export interface DeviceSpec {
  deviceModelRef?: { name?: string };
  nodeName?: string;
  properties?: DeviceProperty[];
  protocol?: ProtocolConfig;
  methods?: DeviceMethod[];
  stateReport?: { reportToCloud?: boolean; reportCycle?: number };
}

export interface Twin {
  propertyName: string;
  reported?: TwinProperty;
  observedDesired?: TwinProperty;
}

/** Status as KubeEdge <= 1.22 keeps it on Device (and DeviceStatus keeps since 1.23). */
export interface DeviceStatusFields {
  twins?: Twin[];
  state?: string;
  lastOnlineTime?: string;
  reportToCloud?: boolean;
  reportCycle?: number;
  extensions?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Device {
  apiVersion: typeof API_VERSION;
  kind: 'Device';
  metadata: ObjectMeta;
  spec: DeviceSpec;
  status?: DeviceStatusFields;
}

export const PROPERTY_TYPES = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];
export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export interface ModelProperty {
  name: string;
  description?: string;
  type?: PropertyType;
  accessMode?: AccessMode;
  minimum?: string;
  maximum?: string;
  unit?: string;
  visitors?: VisitorConfig;
}

export interface DeviceModelSpec {
  protocol?: string;
  properties?: ModelProperty[];
  protocolConfigData?: ConfigData;
}

export interface DeviceModel {
  apiVersion: typeof API_VERSION;
  kind: 'DeviceModel';
  metadata: ObjectMeta;
  spec: DeviceModelSpec;
}

export interface DeviceStatus {
  apiVersion: typeof API_VERSION;
  kind: 'DeviceStatus';
  metadata: ObjectMeta;
  spec?: Record<string, never>;
  status?: DeviceStatusFields;
}

export type DeviceObject = Device | DeviceModel | DeviceStatus;

/** `ns/name`, the device ID KubeEdge uses since 1.16 and on MQTT topics since 1.17. */
export type DeviceId = string;

export function deviceId(obj: { metadata: ObjectMeta }): DeviceId {
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

export function splitId(id: DeviceId): { namespace: string; name: string } {
  const slash = id.indexOf('/');
  if (slash < 0) return { namespace: 'default', name: id };
  return { namespace: id.slice(0, slash), name: id.slice(slash + 1) };
}
