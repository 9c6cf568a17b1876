// The one home of OPC-UA configuration (issue 11; docs/opcua.md is the user-facing table): a device's
// protocol configData -> OpcuaProtocolConfig (endpoint, security, identity, server-certificate trust), a
// property's visitor configData -> OpcuaVisitor (NodeId or browse path, subscription tuning, method call),
// and validateOpcuaDevice, which `edgetwin validate`/`apply` and the mapper both run. Pure: no node-opcua
// import, so validate never loads the OPC-UA stack.
//
// KubeEdge's v1alpha2 keys keep their meaning (reference §2.2): url, userName, password (a FILE holding the
// password), certificate/privateKey (the client's application certificate), securityMode, securityPolicy,
// timeout, remoteCertificate (the pinned server certificate); visitor nodeID and browseName.

import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  deviceConfigIssues,
  type ResolvedDevice,
  type ResolvedProperty,
} from '@edgetwin/api';

export const OPCUA_SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export type OpcuaSecurityMode = (typeof OPCUA_SECURITY_MODES)[number];

/** Policies node-opcua-client 2.182 negotiates (Basic128Rsa15/Basic256 are deprecated and refused). */
export const OPCUA_SECURITY_POLICIES = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
] as const;
export type OpcuaSecurityPolicy = (typeof OPCUA_SECURITY_POLICIES)[number];

/** KubeEdge's spellings of the same policies. */
const POLICY_ALIASES: Record<string, OpcuaSecurityPolicy> = {
  aes128sha256rsaoaep: 'Aes128_Sha256_RsaOaep',
  aes256sha256rsapss: 'Aes256_Sha256_RsaPss',
};

export type OpcuaIdentity =
  | { kind: 'anonymous' }
  | { kind: 'username'; userName: string; passwordFile: string }
  | { kind: 'certificate'; certificateFile: string; privateKeyFile: string };

export interface OpcuaProtocolConfig {
  url: string;
  securityMode: OpcuaSecurityMode;
  securityPolicy: OpcuaSecurityPolicy;
  identity: OpcuaIdentity;
  /** the client's application certificate; absent: created once in the mapper's data dir */
  certificateFile?: string;
  privateKeyFile?: string;
  /** server certificate trust: a pinned certificate file, a folder of trusted certificates, or TOFU */
  remoteCertificate?: string;
  trustFolder?: string;
  trustOnFirstUse: boolean;
  /** connect/request timeout (ms) */
  timeoutMs: number;
  /** session timeout requested from the server (ms); the client renews before it runs out */
  sessionTimeoutMs: number;
  /** the mapper's data dir override for this device (application certificate, TOFU fingerprints) */
  dataDir?: string;
}

export type OpcuaDeadband = { type: 'none' } | { type: 'absolute' | 'percent'; value: number };

export interface OpcuaVisitor {
  /** a NodeId in any string form (ns=2;i=2, ns=1;s=..., g=GUID, b=opaque, nsu=URI;...) */
  nodeId?: string;
  /** a browse path from Objects, e.g. /2:Line1/2:Temperature or Line1/Temperature */
  browsePath?: string;
  /** subscribe (MonitoredItem) instead of polling; default: when the report mode is on change */
  subscribe: boolean;
  samplingIntervalMs: number;
  queueSize: number;
  deadband: OpcuaDeadband;
  /** a write calls this method instead of writing the variable */
  method?: { objectId: string; methodId: string };
}

export const OPCUA_DEFAULT_TIMEOUT_MS = 5000;
export const OPCUA_DEFAULT_SESSION_TIMEOUT_MS = 60_000;
export const OPCUA_DEFAULT_SAMPLING_MS = 250;
export const OPCUA_DEFAULT_QUEUE_SIZE = 10;

const NUMERIC = /^\d{1,10}$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why a NodeId string is not one, or undefined when it is (OPC-UA Part 6 §5.3.1.10 string form). */
export function nodeIdProblem(text: string): string | undefined {
  let rest = text.trim();
  const ns = /^ns=(\d+);/.exec(rest);
  const nsu = /^nsu=([^;]+);/.exec(rest);
  if (ns) {
    if (Number(ns[1]) > 65535) return `namespace index ${ns[1]} is over 65535`;
    rest = rest.slice(ns[0].length);
  } else if (nsu) rest = rest.slice(nsu[0].length);
  else if (/^nsu?=/.test(rest)) return 'has a namespace but no ";" before the identifier';
  const m = /^([isgb])=(.*)$/s.exec(rest);
  if (!m) return 'is not a NodeId (expected ns=<index>;i=|s=|g=|b=<id>, or nsu=<uri>;...)';
  const [, kind, id = ''] = m;
  if (kind === 'i' && (!NUMERIC.test(id) || Number(id) > 4294967295))
    return `numeric identifier "${id}" is not 0..4294967295`;
  if (kind === 's' && id === '') return 'string identifier is empty';
  if (kind === 'g' && !GUID.test(id)) return `"${id}" is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`;
  if (kind === 'b' && (id === '' || !BASE64.test(id))) return `opaque identifier "${id}" is not base64`;
  return undefined;
}

export function parseOpcuaProtocol(config: ConfigData): ConfigParse<OpcuaProtocolConfig> {
  const r = new ConfigReader(config);
  const url = r.string('url') ?? r.string('endpoint') ?? '';
  if (!url) r.problem('url', 'is missing (the server endpoint, e.g. opc.tcp://plc.local:4840)');
  else if (!/^opc\.tcp:\/\/[^/:]+(:\d+)?(\/.*)?$/.test(url))
    r.problem('url', `"${url}" is not an opc.tcp://host[:port][/path] endpoint`);
  const securityMode = r.oneOf('securityMode', OPCUA_SECURITY_MODES, 'None');
  const rawPolicy = r.string('securityPolicy');
  let securityPolicy: OpcuaSecurityPolicy = securityMode === 'None' ? 'None' : 'Basic256Sha256';
  if (rawPolicy !== undefined) {
    const key = rawPolicy.replace(/^.*#/, '');
    const hit =
      OPCUA_SECURITY_POLICIES.find((p) => p.toLowerCase() === key.toLowerCase()) ?? POLICY_ALIASES[key.toLowerCase()];
    if (hit) securityPolicy = hit;
    else if (/^basic(128rsa15|256)$/i.test(key))
      r.problem(
        'securityPolicy',
        `${key} is deprecated and insecure; use Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`,
      );
    else r.problem('securityPolicy', `"${rawPolicy}" is not one of ${OPCUA_SECURITY_POLICIES.join(', ')}`);
  }
  if (securityMode === 'None' && securityPolicy !== 'None')
    r.problem('securityPolicy', `${securityPolicy} needs securityMode Sign or SignAndEncrypt`);
  if (securityMode !== 'None' && securityPolicy === 'None')
    r.problem('securityPolicy', `None cannot ${securityMode}; use Basic256Sha256 or another policy`);

  const userName = r.string('userName');
  const password = r.string('password');
  const userCertificate = r.string('userCertificate');
  const userPrivateKey = r.string('userPrivateKey');
  let identity: OpcuaIdentity = { kind: 'anonymous' };
  if (userName !== undefined) {
    if (password === undefined)
      r.problem(
        'password',
        'is missing: with userName, password names a file that holds the password (never the password itself)',
      );
    else if (!password.startsWith('/') && !password.startsWith('./') && !password.startsWith('../'))
      r.problem(
        'password',
        'must be the path of a file holding the password (absolute, or ./relative), never the password itself',
      );
    identity = { kind: 'username', userName, passwordFile: password ?? '' };
  } else if (password !== undefined) r.problem('password', 'is given without userName');
  if (userCertificate !== undefined || userPrivateKey !== undefined) {
    if (userName !== undefined) r.problem('userCertificate', 'and userName are two identities; give one');
    if (!userCertificate || !userPrivateKey)
      r.problem(
        userCertificate ? 'userPrivateKey' : 'userCertificate',
        'is needed with the other (X.509 user identity)',
      );
    else identity = { kind: 'certificate', certificateFile: userCertificate, privateKeyFile: userPrivateKey };
  }
  const certificateFile = r.string('certificate');
  const privateKeyFile = r.string('privateKey');
  if ((certificateFile === undefined) !== (privateKeyFile === undefined))
    r.problem(
      certificateFile ? 'privateKey' : 'certificate',
      'is needed with the other (the client application certificate)',
    );
  const remoteCertificate = r.string('remoteCertificate');
  const trustFolder = r.string('trustFolder');
  const trustOnFirstUse = r.bool('trustOnFirstUse', false);
  if (remoteCertificate !== undefined && trustOnFirstUse)
    r.problem('trustOnFirstUse', 'conflicts with remoteCertificate (a pinned certificate is already trusted)');
  const timeoutMs = r.int('timeout', OPCUA_DEFAULT_TIMEOUT_MS, 1);
  const sessionTimeoutMs = r.int('sessionTimeout', OPCUA_DEFAULT_SESSION_TIMEOUT_MS, 1000);
  const dataDir = r.string('dataDir');
  return r.result(() => {
    const c: OpcuaProtocolConfig = {
      url,
      securityMode,
      securityPolicy,
      identity,
      trustOnFirstUse,
      timeoutMs,
      sessionTimeoutMs,
    };
    if (certificateFile !== undefined && privateKeyFile !== undefined) {
      c.certificateFile = certificateFile;
      c.privateKeyFile = privateKeyFile;
    }
    if (remoteCertificate !== undefined) c.remoteCertificate = remoteCertificate;
    if (trustFolder !== undefined) c.trustFolder = trustFolder;
    if (dataDir !== undefined) c.dataDir = dataDir;
    return c;
  });
}

export function parseOpcuaVisitor(
  prop: Pick<ResolvedProperty, 'name' | 'visitor' | 'accessMode'> & Partial<Pick<ResolvedProperty, 'report'>>,
): ConfigParse<OpcuaVisitor> {
  const r = new ConfigReader(prop.visitor, prop.name);
  const nodeId = r.string('nodeID') ?? r.string('nodeId');
  const browsePath = r.string('browsePath') ?? r.string('browseName');
  const nodeKey = prop.visitor.nodeID !== undefined ? 'nodeID' : 'nodeId';
  if (nodeId === undefined && browsePath === undefined && !r.has('method'))
    r.problem('nodeID', 'is missing (a NodeId such as ns=2;i=2, or browsePath such as /2:Line1/2:Temperature)');
  if (nodeId !== undefined && browsePath !== undefined)
    r.problem('browsePath', 'and nodeID both address the variable; give one');
  if (nodeId !== undefined) {
    const p = nodeIdProblem(nodeId);
    if (p) r.problem(nodeKey, `"${nodeId}" ${p}`);
  }
  if (browsePath !== undefined && browsePath.replace(/\//g, '').trim() === '') r.problem('browsePath', 'is empty');
  const onChange = (prop.report?.mode ?? 'change') !== 'cycle';
  const subscribe = r.bool('subscribe', onChange);
  const samplingIntervalMs = r.int('samplingInterval', OPCUA_DEFAULT_SAMPLING_MS);
  const queueSize = r.int('queueSize', OPCUA_DEFAULT_QUEUE_SIZE, 1, 10_000);
  let deadband: OpcuaDeadband = { type: 'none' };
  if (r.has('deadband')) {
    const v = r.number('deadband', 0);
    if (v < 0) r.problem('deadband', `${v} is negative`);
    const type = r.oneOf('deadbandType', ['absolute', 'percent'] as const, 'absolute');
    if (type === 'percent' && v > 100) r.problem('deadband', `${v} is over 100 percent`);
    deadband = { type, value: v };
  } else if (r.has('deadbandType')) r.problem('deadbandType', 'is given without deadband');
  let method: OpcuaVisitor['method'];
  const methodId = r.string('method');
  if (methodId !== undefined) {
    const objectId = r.string('methodObject') ?? '';
    for (const [key, id] of [
      ['method', methodId],
      ['methodObject', objectId],
    ] as const) {
      const p = id === '' ? 'is missing (the NodeId of the object that owns the method)' : nodeIdProblem(id);
      if (p) r.problem(key, id === '' ? p : `"${id}" ${p}`);
    }
    if (prop.accessMode === 'ReadOnly') r.problem('method', 'is called on write, but the property is ReadOnly');
    method = { objectId, methodId };
  } else if (r.has('methodObject')) r.problem('methodObject', 'is given without method');
  return r.result(() => {
    const v: OpcuaVisitor = { subscribe, samplingIntervalMs, queueSize, deadband };
    if (nodeId !== undefined) v.nodeId = nodeId.trim();
    if (browsePath !== undefined) v.browsePath = browsePath;
    if (method) v.method = method;
    return v;
  });
}

/** Every problem of an OPC-UA device's config (validate, apply and the mapper). */
export function validateOpcuaDevice(device: ResolvedDevice): ConfigIssue[] {
  return deviceConfigIssues(device, parseOpcuaProtocol, parseOpcuaVisitor);
}
