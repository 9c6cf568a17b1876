// `edgetwin probe opcua URL` (issue 11, "probe"): browse a server's address space from the Objects folder
// and describe its variables (NodeId, browse path, DataType, access, EURange, unit, value), then, for the
// ones chosen, a DeviceModel + Device manifest nobody has to hand-type NodeIds for. Connects through the
// driver's own session code (session.ts), so the same security, identity and trust keys apply, and fail,
// as in the mapper. Bounded: at most `maxNodes` nodes and `maxDepth` levels are browsed.

import {
  AttributeIds,
  BrowseDirection,
  type BrowseResult,
  type ClientSession,
  DataType,
  type DataValue,
  findBasicDataType,
  type NodeId,
  NodeClassMask,
  type ReferenceDescription,
  resolveNodeId,
} from 'node-opcua-client';
import type { Logger } from 'pino';
import type { PropertyType } from '@edgetwin/api';
import { skeletonManifests } from '../../framework/skeleton.js';
import type { OpcuaProtocolConfig } from './config.js';
import { closeOpcua, openOpcuaSession } from './session.js';
import { variantToRaw } from './values.js';

export interface ProbedVariable {
  /** the NodeId as the server numbers its namespaces today: ns=2;s=Line1.Temperature */
  nodeId: string;
  /** the same with the namespace URI (nsu=urn:...;s=...), which survives a namespace reordering */
  stableNodeId: string;
  /** from the Objects folder, each browse name with its namespace index: /2:Line1/2:Temperature */
  browsePath: string;
  /** the built-in DataType the value travels as (an enumeration is Int32) */
  dataType: string;
  /** the DataType node's own name when it differs (an enumeration, a subtype) */
  dataTypeName?: string;
  isArray: boolean;
  /** what this session's user may do (AccessLevel and UserAccessLevel together) */
  readable: boolean;
  writable: boolean;
  /** EURange of an analog item */
  range?: { low: number; high: number };
  /** EngineeringUnits' display name */
  unit?: string;
  description?: string;
  /** the current value as the driver would report it ('' when it could not be read) */
  value: string;
}

export interface ProbeOptions {
  dataDir: string;
  logger: Logger;
  /** glob (* and ?) or substring, case-insensitive, against the browse path, its names alone, or the NodeId */
  filter?: string;
  maxNodes: number;
  maxDepth: number;
}

export interface ProbeResult {
  variables: ProbedVariable[];
  /** variables seen before the filter */
  seen: number;
  /** why browsing stopped early, if it did */
  truncated?: string;
}

const HAS_PROPERTY = resolveNodeId('i=46');
const HIERARCHICAL = resolveNodeId('i=33');
/** how many nodes one Browse or Read request carries (servers cap operations per request) */
const CHUNK = 200;

interface Found {
  nodeId: NodeId;
  path: string;
  description?: string;
  euRange?: NodeId;
  units?: NodeId;
}

/** `*` and `?` wildcards, case-insensitive; without any, a substring match. */
export function filterMatcher(pattern: string | undefined): (texts: string[]) => boolean {
  if (!pattern) return () => true;
  const glob = /[*?]/.test(pattern) ? pattern : `*${pattern}*`;
  const re = new RegExp(
    `^${glob
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return (texts) => texts.some((t) => re.test(t));
}

/** /2:Line1/2:Temperature -> Line1/Temperature */
export function plainPath(browsePath: string): string {
  return browsePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/^\d+:/, ''))
    .join('/');
}

async function browseAll(session: ClientSession, nodes: NodeId[]): Promise<BrowseResult[]> {
  const out: BrowseResult[] = [];
  for (let i = 0; i < nodes.length; i += CHUNK) {
    const results = await session.browse(
      nodes.slice(i, i + CHUNK).map((nodeId) => ({
        nodeId,
        browseDirection: BrowseDirection.Forward,
        referenceTypeId: HIERARCHICAL,
        includeSubtypes: true,
        nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
        resultMask: 0x3f,
      })),
    );
    for (const r of results) {
      let cp = r.continuationPoint;
      const refs = [...(r.references ?? [])];
      while (cp && cp.length > 0) {
        const next = await session.browseNext(cp, false);
        refs.push(...(next.references ?? []));
        cp = next.continuationPoint;
      }
      r.references = refs as typeof r.references;
      out.push(r);
    }
  }
  return out;
}

async function readAll(
  session: ClientSession,
  reads: Array<{ nodeId: NodeId; attributeId: number }>,
): Promise<DataValue[]> {
  const out: DataValue[] = [];
  for (let i = 0; i < reads.length; i += CHUNK) out.push(...(await session.read(reads.slice(i, i + CHUNK))));
  return out;
}

/** Walks the Objects folder breadth-first: variables with their EURange/EngineeringUnits properties. */
async function walk(session: ClientSession, opts: ProbeOptions): Promise<{ variables: Found[]; truncated?: string }> {
  const objects = resolveNodeId('ObjectsFolder');
  const visited = new Set<string>([objects.toString()]);
  const variables: Found[] = [];
  let level: Array<{ nodeId: NodeId; path: string; isVariable: boolean; found?: Found }> = [
    { nodeId: objects, path: '', isVariable: false },
  ];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth >= opts.maxDepth)
      return { variables, truncated: `stopped at depth ${opts.maxDepth} (raise it with --max-depth)` };
    const results = await browseAll(
      session,
      level.map((n) => n.nodeId),
    );
    const next: typeof level = [];
    for (let i = 0; i < level.length; i++) {
      const parent = level[i] as (typeof level)[number];
      for (const ref of (results[i]?.references ?? []) as ReferenceDescription[]) {
        const name = ref.browseName.name ?? '';
        // a variable's properties describe it (EURange, EngineeringUnits, EnumStrings): metadata, not data
        if (parent.isVariable && ref.referenceTypeId.toString() === HAS_PROPERTY.toString()) {
          if (parent.found && name === 'EURange') parent.found.euRange = ref.nodeId;
          if (parent.found && name === 'EngineeringUnits') parent.found.units = ref.nodeId;
          continue;
        }
        const id = ref.nodeId.toString();
        // namespace 0 below Objects is the server's own (Server object, diagnostics): not a device's data
        if (ref.nodeId.namespace === 0 || visited.has(id)) continue;
        visited.add(id);
        if (visited.size > opts.maxNodes)
          return {
            variables,
            truncated: `stopped after ${opts.maxNodes} nodes (raise it with --max-nodes)`,
          };
        const path = `${parent.path}/${ref.browseName.namespaceIndex}:${name}`;
        const isVariable = ref.nodeClass === 2; // NodeClass.Variable
        const nodeId = resolveNodeId(ref.nodeId);
        let found: Found | undefined;
        if (isVariable) {
          found = { nodeId, path };
          variables.push(found);
        }
        next.push({ nodeId, path, isVariable, ...(found ? { found } : {}) });
      }
    }
    level = next;
  }
  return { variables };
}

function numberOr(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Connects with `cfg`, browses, reads each variable's attributes, and closes. */
export async function probeOpcua(cfg: OpcuaProtocolConfig, opts: ProbeOptions): Promise<ProbeResult> {
  const conn = await openOpcuaSession(cfg, {
    dataDir: cfg.dataDir ?? opts.dataDir,
    logger: opts.logger,
    clientName: 'edgetwin probe',
    where: cfg.url,
  });
  try {
    const { session } = conn;
    const namespaces = await session.readNamespaceArray();
    const { variables: found, truncated } = await walk(session, opts);
    const matches = filterMatcher(opts.filter);
    const chosen = found.filter((f) => matches([f.path, plainPath(f.path), f.nodeId.toString()]));
    const attrs = [
      AttributeIds.DataType,
      AttributeIds.ValueRank,
      AttributeIds.AccessLevel,
      AttributeIds.UserAccessLevel,
      AttributeIds.Value,
      AttributeIds.Description,
    ];
    const dvs = await readAll(
      session,
      chosen.flatMap((f) => attrs.map((attributeId) => ({ nodeId: f.nodeId, attributeId }))),
    );
    const metaIds = chosen.flatMap((f) => [f.euRange, f.units]).filter((x): x is NodeId => x !== undefined);
    const metaValues = new Map<string, unknown>();
    const metaDvs = await readAll(
      session,
      metaIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
    );
    metaIds.forEach((id, i) => {
      metaValues.set(id.toString(), metaDvs[i]?.value?.value);
    });
    const typeIds = [
      ...new Map(
        chosen
          .map((_, i) => dvs[i * attrs.length]?.value?.value as NodeId | undefined)
          .flatMap((t) => (t ? [[t.toString(), t] as const] : [])),
      ).values(),
    ];
    const typeNames = await readAll(
      session,
      typeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.BrowseName })),
    );
    const builtIns = new Map<string, DataType>();
    const names = new Map<string, string>();
    for (let i = 0; i < typeIds.length; i++) {
      const t = typeIds[i] as NodeId;
      builtIns.set(t.toString(), await findBasicDataType(session, t).catch(() => DataType.Null));
      const n = (typeNames[i]?.value?.value as { name?: string } | undefined)?.name;
      if (n) names.set(t.toString(), n);
    }
    const variables = chosen.map((f, k): ProbedVariable => {
      const at = (j: number) => dvs[k * attrs.length + j] as DataValue;
      const typeId = at(0).value?.value as NodeId | undefined;
      const builtIn = typeId ? (builtIns.get(typeId.toString()) ?? DataType.Null) : DataType.Null;
      const dataType = DataType[builtIn] ?? 'Null';
      const typeName = typeId ? names.get(typeId.toString()) : undefined;
      const access = Number(at(2).value?.value ?? 0);
      const userAccess = at(3).statusCode.isGood() ? Number(at(3).value?.value ?? 0) : access;
      const id = f.nodeId.toString();
      const ns = f.nodeId.namespace;
      const value = at(4);
      const range = f.euRange ? metaValues.get(f.euRange.toString()) : undefined;
      const units = f.units ? metaValues.get(f.units.toString()) : undefined;
      const low = numberOr((range as { low?: unknown } | undefined)?.low);
      const high = numberOr((range as { high?: unknown } | undefined)?.high);
      const unit = (units as { displayName?: { text?: string } } | undefined)?.displayName?.text;
      const description = (at(5).value?.value as { text?: string } | undefined)?.text;
      const v: ProbedVariable = {
        nodeId: id,
        stableNodeId: ns > 0 && namespaces[ns] ? `nsu=${namespaces[ns]};${id.replace(/^ns=\d+;/, '')}` : id,
        browsePath: f.path,
        dataType,
        isArray: Number(at(1).value?.value ?? -1) >= 0,
        readable: (access & userAccess & 1) !== 0,
        writable: (access & userAccess & 2) !== 0,
        value: value.statusCode.isGood() && value.value ? String(variantToRaw(value.value)) : '',
      };
      if (typeName && typeName !== dataType) v.dataTypeName = typeName;
      if (low !== undefined && high !== undefined) v.range = { low, high };
      if (unit) v.unit = unit;
      // asyncua and others repeat the browse name as the description: only a real one is kept
      if (description && description !== plainPath(f.path).split('/').pop()) v.description = description;
      return v;
    });
    return { variables, seen: found.length, ...(truncated ? { truncated } : {}) };
  } finally {
    await closeOpcua(conn);
  }
}

const MODEL_TYPES: Partial<Record<string, PropertyType>> = {
  Boolean: 'BOOLEAN',
  SByte: 'INT',
  Byte: 'INT',
  Int16: 'INT',
  UInt16: 'INT',
  Int32: 'INT',
  UInt32: 'INT',
  Int64: 'INT',
  UInt64: 'INT',
  Float: 'FLOAT',
  Double: 'DOUBLE',
};

/** The model type a variable reports as: arrays and everything textual are STRING (docs/opcua.md "Values"). */
export function modelTypeOf(v: Pick<ProbedVariable, 'dataType' | 'isArray'>): PropertyType {
  return v.isArray ? 'STRING' : (MODEL_TYPES[v.dataType] ?? 'STRING');
}

/** Property names from browse names: lower-case, `-` for anything else; the whole path when two collide. */
export function propertyNames(variables: Array<Pick<ProbedVariable, 'browsePath'>>): string[] {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'value';
  const short = variables.map((v) => slug(plainPath(v.browsePath).split('/').pop() ?? ''));
  const count = new Map<string, number>();
  for (const s of short) count.set(s, (count.get(s) ?? 0) + 1);
  const used = new Set<string>();
  return variables.map((v, i) => {
    let name = (count.get(short[i] as string) ?? 0) > 1 ? slug(plainPath(v.browsePath)) : (short[i] as string);
    const base = name;
    for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
    used.add(name);
    return name;
  });
}

/**
 * A DeviceModel + Device for the probed variables: one property per readable variable, addressed by its
 * namespace-URI NodeId, typed from its DataType, ReadWrite when this user may write it, minimum/maximum
 * from EURange and unit from EngineeringUnits. `configData` is the protocol config the probe connected with.
 */
export function opcuaSkeleton(
  variables: ProbedVariable[],
  opts: { name: string; node: string; configData: Record<string, unknown> },
): Array<Record<string, unknown>> {
  const readable = variables.filter((v) => v.readable);
  const names = propertyNames(readable);
  const numeric = (v: ProbedVariable) => ['INT', 'FLOAT', 'DOUBLE'].includes(modelTypeOf(v));
  return skeletonManifests({
    name: opts.name,
    node: opts.node,
    protocol: 'opcua',
    configData: opts.configData,
    properties: readable.map((v, i) => ({
      model: {
        name: names[i] as string,
        description: `${v.browsePath} (${v.dataTypeName ?? v.dataType}${v.isArray ? '[]' : ''})${v.description ? `: ${v.description}` : ''}`,
        type: modelTypeOf(v),
        accessMode: v.writable ? 'ReadWrite' : 'ReadOnly',
        ...(v.range && numeric(v) ? { minimum: String(v.range.low), maximum: String(v.range.high) } : {}),
        ...(v.unit ? { unit: v.unit } : {}),
      },
      visitor: { nodeID: v.stableNodeId, dataType: v.dataType, ...(v.isArray ? { valueRank: 1 } : {}) },
    })),
  });
}
