// A simulated OPC-UA server (node-opcua-server) built from the same resolved Device/DeviceModel manifests
// the OPC-UA mapper reads (issue 11): every property's nodeID becomes a variable with that NodeId (its
// namespace registered, by index or by nsu= URI), of the visitor's `dataType` or the model type's natural
// one, writable unless the model says ReadOnly; a visitor `method` becomes a method that sets the
// property's variable from its first argument. Values are read and written through the driver's own value
// conversions, so the conformance suite compares like with like.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import { parseOpcuaProtocol, parseOpcuaVisitor } from '@edgetwin/mappers/drivers/opcua/config';
import { rawToVariant, variantToRaw } from '@edgetwin/mappers/drivers/opcua/values';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import {
  AccessLevelFlag,
  DataType,
  MessageSecurityMode,
  SecurityPolicy,
  StatusCodes,
  Variant,
} from 'node-opcua-client';
import { OPCUAServer } from 'node-opcua-server';
import pino, { type Logger } from 'pino';

type Raw = number | boolean | string;
type AddressSpace = NonNullable<OPCUAServer['engine']['addressSpace']>;
type Namespace = ReturnType<AddressSpace['registerNamespace']>;
type UAVariable = ReturnType<Namespace['addVariable']>;
type UAObject = ReturnType<Namespace['addObject']>;

export interface OpcuaSimulatorOptions {
  devices: ResolvedDevice[];
  /** serve every device on this port (0 = ephemeral); default: the port of the first device's url */
  port?: number;
  host?: string;
  /** 'moving': numeric values random-walk within min/max every tickMs */
  behaviour?: 'static' | 'moving';
  tickMs?: number;
  logger?: Logger;
}

export interface OpcuaSimulator {
  readonly port: number;
  /** opc.tcp://host:port */
  readonly url: string;
  /** a property's value as the driver reads it (raw, JSON for arrays) */
  peek(deviceId: string, property: string): Raw;
  poke(deviceId: string, property: string, value: Raw): void;
  /** stop serving (the port closes) / serve again with the same values */
  setReachable(reachable: boolean): Promise<void>;
  /** remove a property's node, as an operator deleting it on the PLC */
  deleteNode(deviceId: string, property: string): void;
  stop(): Promise<void>;
}

interface SimVar {
  nodeId: string;
  dataType: DataType;
  writable: boolean;
  value: Variant;
  prop: ResolvedProperty;
  method?: { objectId: string; methodId: string };
  deleted: boolean;
  /** set by poke: the random walk leaves it alone */
  pinned?: boolean;
}

const BY_MODEL_TYPE: Record<string, DataType> = {
  INT: DataType.Int32,
  FLOAT: DataType.Float,
  DOUBLE: DataType.Double,
  BOOLEAN: DataType.Boolean,
  STRING: DataType.String,
  BYTES: DataType.ByteString,
};

function dataTypeOf(prop: ResolvedProperty): DataType {
  const named = prop.visitor.dataType;
  if (typeof named === 'string' && named in DataType && Number.isNaN(Number(named)))
    return DataType[named as keyof typeof DataType] as DataType;
  return BY_MODEL_TYPE[prop.type] ?? DataType.String;
}

function initialRaw(prop: ResolvedProperty, dataType: DataType): Raw {
  if (prop.desired?.value !== undefined && prop.desired.value !== '') return prop.desired.value;
  switch (dataType) {
    case DataType.Boolean:
      return false;
    case DataType.String:
    case DataType.LocalizedText:
      return '';
    case DataType.ByteString:
      return '';
    case DataType.DateTime:
      return new Date(0).toISOString();
    case DataType.Guid:
      return '00000000-0000-0000-0000-000000000000';
    default:
      if (prop.minimum !== undefined && prop.maximum !== undefined)
        return dataType === DataType.Float || dataType === DataType.Double
          ? (prop.minimum + prop.maximum) / 2
          : Math.round((prop.minimum + prop.maximum) / 2);
      return prop.minimum ?? 0;
  }
}

export async function startOpcuaSimulator(opts: OpcuaSimulatorOptions): Promise<OpcuaSimulator> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const host = opts.host ?? '127.0.0.1';
  const vars = new Map<string, SimVar>();
  const problems: string[] = [];
  let port = opts.port;
  for (const d of opts.devices) {
    if (d.protocol.toLowerCase() !== 'opcua') continue;
    const proto = parseOpcuaProtocol(d.protocolConfig);
    if (!proto.ok) {
      problems.push(`device ${d.id}: ${proto.issues.map((i) => `${i.key} ${i.message}`).join('; ')}`);
      continue;
    }
    port ??= Number(/:(\d+)/.exec(proto.value.url.replace(/^opc\.tcp:\/\//, ''))?.[1] ?? 4840);
    for (const prop of d.properties) {
      const v = parseOpcuaVisitor(prop);
      if (!v.ok) {
        problems.push(
          `device ${d.id} property ${prop.name}: ${v.issues.map((i) => `${i.key} ${i.message}`).join('; ')}`,
        );
        continue;
      }
      if (!v.value.nodeId) continue;
      const dataType = dataTypeOf(prop);
      const isArray = typeof prop.visitor.valueRank === 'number' && prop.visitor.valueRank >= 0;
      vars.set(`${d.id}/${prop.name}`, {
        nodeId: v.value.nodeId,
        dataType,
        writable: prop.accessMode !== 'ReadOnly',
        value: rawToVariant(
          isArray && !prop.desired?.value ? '[]' : initialRaw(prop, dataType),
          dataType,
          isArray,
          `${d.id} ${prop.name}`,
        ),
        prop,
        ...(v.value.method ? { method: v.value.method } : {}),
        deleted: false,
      });
    }
  }
  if (problems.length > 0) throw new Error(`opcua simulator: ${problems.join('; ')}`);
  const pkiRoot = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-sim-'));
  let server: OPCUAServer | undefined;
  let actualPort = port ?? 4840;
  const nodes = new Map<string, UAVariable>();

  const build = (addressSpace: AddressSpace) => {
    const namespaces = new Map<string, Namespace>();
    const nsFor = (nodeId: string): { ns: Namespace; id: string } => {
      const uri = /^nsu=([^;]+);(.*)$/s.exec(nodeId);
      if (uri) {
        const key = uri[1] as string;
        let ns = namespaces.get(key) ?? (addressSpace.getNamespace(key) as Namespace | null);
        if (!ns) ns = addressSpace.registerNamespace(key);
        namespaces.set(key, ns);
        return { ns, id: `ns=${ns.index};${uri[2]}` };
      }
      const index = Number(/^ns=(\d+);/.exec(nodeId)?.[1] ?? 0);
      while (addressSpace.getNamespaceArray().length <= index)
        addressSpace.registerNamespace(`urn:edgetwin:simulator:ns${addressSpace.getNamespaceArray().length}`);
      return { ns: addressSpace.getNamespaceArray()[index] as Namespace, id: nodeId };
    };
    const folders = new Map<string, UAObject>();
    for (const [key, sv] of vars) {
      const deviceId = key.slice(0, key.lastIndexOf('/'));
      const { ns, id } = nsFor(sv.nodeId);
      let folder = folders.get(`${ns.index}/${deviceId}`);
      if (!folder) {
        folder = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: deviceId.replace('/', '_') });
        folders.set(`${ns.index}/${deviceId}`, folder);
      }
      // a numeric property with a minimum and maximum is an AnalogItem: its EURange (and EngineeringUnits
      // from the model's unit) are what `probe opcua` and percent deadbands read
      const analog =
        sv.value.arrayType === 0 &&
        typeof sv.value.value === 'number' &&
        sv.prop.minimum !== undefined &&
        sv.prop.maximum !== undefined;
      const add = analog
        ? (o: Parameters<Namespace['addVariable']>[0]) =>
            (ns as unknown as { addAnalogDataItem(o: object): UAVariable }).addAnalogDataItem({
              ...o,
              engineeringUnitsRange: { low: sv.prop.minimum, high: sv.prop.maximum },
              ...(sv.prop.unit
                ? {
                    engineeringUnits: {
                      namespaceUri: 'http://www.opcfoundation.org/UA/units/un/cefact',
                      unitId: -1,
                      displayName: { text: sv.prop.unit },
                      description: { text: sv.prop.unit },
                    },
                  }
                : {}),
            })
        : (o: Parameters<Namespace['addVariable']>[0]) => ns.addVariable(o);
      const variable = add({
        componentOf: folder,
        browseName: sv.prop.name,
        nodeId: id,
        dataType: sv.dataType,
        valueRank: sv.value.arrayType === 0 ? -1 : 1,
        minimumSamplingInterval: 50,
        accessLevel: sv.writable
          ? AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite
          : AccessLevelFlag.CurrentRead,
        userAccessLevel: sv.writable
          ? AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite
          : AccessLevelFlag.CurrentRead,
        value: {
          get: () => (sv.deleted ? new Variant({}) : sv.value),
          set: (v: Variant) => {
            if (v.dataType !== sv.dataType) return StatusCodes.BadTypeMismatch;
            sv.value = v;
            return StatusCodes.Good;
          },
        },
      });
      nodes.set(key, variable);
      if (sv.method) {
        const m = nsFor(sv.method.methodId);
        const o = nsFor(sv.method.objectId);
        const owner =
          (addressSpace.findNode(o.id) as UAObject | null) ??
          o.ns.addObject({
            organizedBy: addressSpace.rootFolder.objects,
            browseName: `${sv.prop.name}Owner`,
            nodeId: o.id,
          });
        const method = ns.addMethod(owner, {
          browseName: `${sv.prop.name}Method`,
          nodeId: m.id,
          inputArguments: [{ name: 'value', dataType: sv.dataType, valueRank: -1 }],
          outputArguments: [],
        });
        const functor = (
          inputArguments: Variant[],
          _context: unknown,
          callback: (e: Error | null, r: unknown) => void,
        ) => {
          const arg = inputArguments[0];
          if (arg) sv.value = arg;
          callback(null, { statusCode: StatusCodes.Good, outputArguments: [] });
        };
        method.bindMethod(functor as never);
      }
    }
  };

  const start = async () => {
    const cm = (sub: string) =>
      new OPCUACertificateManager({ rootFolder: join(pkiRoot, sub), automaticallyAcceptUnknownCertificate: true });
    const s = new OPCUAServer({
      port: actualPort,
      hostname: host,
      alternateHostname: [host],
      serverCertificateManager: cm('server'),
      userCertificateManager: cm('user'),
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      allowAnonymous: true,
      buildInfo: { productName: 'edgetwin OPC-UA simulator' },
    });
    await s.initialize();
    build(s.engine.addressSpace as AddressSpace);
    await s.start();
    actualPort = Number(s.endpoints[0]?.port ?? actualPort);
    server = s;
    logger.info({ url: `opc.tcp://${host}:${actualPort}`, variables: vars.size }, 'opcua simulator listening');
  };
  try {
    await start();
  } catch (e) {
    rmSync(pkiRoot, { recursive: true, force: true });
    throw new Error(`opcua simulator: ${(e as Error).message}`, { cause: e });
  }

  const timer =
    opts.behaviour === 'moving'
      ? setInterval(() => {
          for (const sv of vars.values()) {
            if (sv.pinned || typeof sv.value.value !== 'number' || sv.value.arrayType !== 0) continue;
            const { minimum: min, maximum: max } = sv.prop;
            const span = min !== undefined && max !== undefined ? max - min : 10;
            let next = (sv.value.value as number) + span * 0.02 * (Math.random() * 2 - 1);
            if (min !== undefined) next = Math.max(min, next);
            if (max !== undefined) next = Math.min(max, next);
            if (sv.dataType !== DataType.Float && sv.dataType !== DataType.Double) next = Math.round(next);
            try {
              sv.value = rawToVariant(next, sv.dataType, false, 'walk');
            } catch {
              // outside the type: stay put this tick
            }
          }
        }, opts.tickMs ?? 1000)
      : undefined;
  timer?.unref();

  const find = (deviceId: string, property: string): SimVar => {
    const sv = vars.get(`${deviceId}/${property}`);
    if (!sv) throw new Error(`opcua simulator: no variable for ${deviceId} property ${property}`);
    return sv;
  };

  return {
    get port() {
      return actualPort;
    },
    get url() {
      return `opc.tcp://${host}:${actualPort}`;
    },
    peek(deviceId, property) {
      return variantToRaw(find(deviceId, property).value);
    },
    poke(deviceId, property, value) {
      const sv = find(deviceId, property);
      sv.value = rawToVariant(value, sv.dataType, sv.value.arrayType !== 0, `${deviceId} ${property}`);
      sv.pinned = true;
      nodes.get(`${deviceId}/${property}`)?.touchValue();
    },
    async setReachable(reachable) {
      if (!reachable && server) {
        const s = server;
        server = undefined;
        await s.shutdown(0);
      } else if (reachable && !server) await start();
    },
    deleteNode(deviceId, property) {
      const node = nodes.get(`${deviceId}/${property}`);
      if (!node) throw new Error(`opcua simulator: no variable for ${deviceId} property ${property}`);
      node.addressSpace.deleteNode(node);
      nodes.delete(`${deviceId}/${property}`);
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (server) await server.shutdown(0);
      server = undefined;
      rmSync(pkiRoot, { recursive: true, force: true });
    },
  };
}
