// The one home of Modbus configuration (issue 11, "one home for protocol config"; docs/modbus.md is the
// user-facing table): a device's protocol configData -> ModbusProtocolConfig, a property's visitor
// configData -> ModbusPoint, and validateModbusDevice, which `edgetwin validate`/`apply` and the running
// mapper both call. Issues name the property and key, so validate prints them at file:line:col.
//
// KubeEdge's visitor keys (register, offset, limit, isSwap, isRegisterSwap, dataType) keep their meaning;
// `type`, `order`, `bitOffset`, `bits`, `encoding` and `writeFunction` are edgetwin's additions. `scale`,
// `bit` and the other value transforms are the framework's (framework/transforms.ts), not parsed here.

import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  type PropertyType,
  type ResolvedDevice,
} from '@edgetwin/api';

export type ModbusTable = 'coil' | 'discrete' | 'holding' | 'input';

/** KubeEdge's register names, and the table each one addresses. */
export const MODBUS_REGISTER_NAMES: Readonly<Record<string, ModbusTable>> = {
  CoilRegister: 'coil',
  DiscreteInputRegister: 'discrete',
  HoldingRegister: 'holding',
  InputRegister: 'input',
};

export const MODBUS_TYPES = [
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'boolean',
  'string',
  'bitfield',
  'bytes',
] as const;
export type ModbusType = (typeof MODBUS_TYPES)[number];

/**
 * Byte order of a multi-register value, letters naming the bytes of the big-endian value in the order they
 * travel. ABCD: big-endian. BADC: bytes swapped within each register (KubeEdge isSwap). CDAB: registers in
 * reverse order (isRegisterSwap). DCBA: both.
 */
export const MODBUS_ORDERS = ['ABCD', 'BADC', 'CDAB', 'DCBA'] as const;
export type ModbusOrder = (typeof MODBUS_ORDERS)[number];

/** Protocol limits of one request (Modbus application protocol v1.1b3, §6). */
export const MODBUS_MAX_READ_REGISTERS = 125;
export const MODBUS_MAX_READ_BITS = 2000;
export const MODBUS_MAX_WRITE_REGISTERS = 123;
export const MODBUS_MAX_WRITE_COILS = 1968;
export const MODBUS_MAX_ADDRESS = 65535;

/** Where one property lives on the device and how its raw value is encoded. */
export interface ModbusPoint {
  property: string;
  table: ModbusTable;
  /** first register or bit (0-based protocol address) */
  offset: number;
  /** registers (holding/input) or bits (coil/discrete) the value occupies */
  count: number;
  type: ModbusType;
  order: ModbusOrder;
  /** bitfield: first bit (0 = least significant bit of the value); `bit` of a boolean is the framework's */
  bit?: number;
  /** bitfield width in bits */
  bits: number;
  /**
   * a boolean with the framework's `bit`: the point reads its whole word (a bitfield), and a boolean
   * written to it changes only this bit, read-modify-write on the line (two bits written at once both stick)
   */
  booleanBit?: number;
  encoding: 'ascii' | 'utf8';
  /** function code used for writes; derived from table and count when absent */
  writeFunction: 5 | 6 | 15 | 16;
  writable: boolean;
}

const TYPE_REGISTERS: Partial<Record<ModbusType, number>> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
};

/** Registers a type occupies, or undefined when `limit` decides (string, bytes, bitfield, boolean). */
export function modbusTypeRegisters(type: ModbusType): number | undefined {
  return TYPE_REGISTERS[type];
}

const REGISTER_LIST = 'CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister';

/**
 * Reads one property's visitor configData. `type` (the model's) picks the value type when the visitor has
 * neither `type` nor `dataType`. A boolean with `bit` reads its whole word here (the framework extracts the
 * bit), so a bit transform applies exactly once.
 */
export function parseModbusVisitor(property: {
  name: string;
  type?: PropertyType;
  accessMode?: string;
  visitor: ConfigData;
}): ConfigParse<ModbusPoint> {
  const r = new ConfigReader(property.visitor, property.name);
  const v = property.visitor;

  const registerName = v.register;
  const table = typeof registerName === 'string' ? tableFromName(registerName) : undefined;
  if (registerName === undefined || registerName === '') r.problem('register', `is missing (${REGISTER_LIST})`);
  else if (!table) r.problem('register', `"${String(registerName)}" is not one of ${REGISTER_LIST}`);

  const offset = r.int('offset', 0);
  const limit = r.has('limit') ? r.int('limit', 1, 1) : undefined;
  const isBits = table === 'coil' || table === 'discrete';
  const readOnlyTable = table === 'input' || table === 'discrete';

  let type = explicitType(r);
  if (!type) type = isBits ? 'boolean' : inferType(r, property.type, limit);
  let order = r.has('order') ? r.oneOf('order', MODBUS_ORDERS) : undefined;
  if (!order) order = orderFromSwaps(r.bool('isSwap', false), r.bool('isRegisterSwap', false));

  // A boolean's `bit` is the framework's transform: the driver reads the whole word. A wider field of
  // bits starts at `bitOffset`.
  if (type === 'bitfield' && r.has('bit'))
    r.problem('bit', 'selects one bit of a boolean; a bitfield starts at bitOffset and is bits wide');
  const frameworkBit = type === 'boolean' && !isBits && r.has('bit') ? r.int('bit', 0) : undefined;
  const bitOffset = r.has('bitOffset') ? r.int('bitOffset', 0) : undefined;
  if (bitOffset !== undefined && type !== 'bitfield') r.problem('bitOffset', `applies to a bitfield, not ${type}`);
  const bitsKey = r.has('bits') ? r.int('bits', 1, 1) : undefined;
  const encoding = r.oneOf('encoding', ['ascii', 'utf8'] as const, 'utf8');

  let count: number;
  const fixed = modbusTypeRegisters(type);
  if (isBits) {
    count = limit ?? 1;
    if (type !== 'boolean' && type !== 'bitfield' && type !== 'uint16' && type !== 'uint32')
      r.problem(
        'type',
        `${type} cannot be read from ${String(registerName)}: use boolean, or bitfield/uint16/uint32 for several bits`,
      );
    if (type === 'boolean' && count !== 1) type = 'bitfield';
    if (count > 32) r.problem('limit', `${count} is over 32 bits for one value on ${String(registerName)}`);
    if (r.has('bit')) r.problem('bit', `does not apply to ${String(registerName)} (each coil is one bit)`);
    if (bitOffset !== undefined)
      r.problem('bitOffset', `does not apply to ${String(registerName)} (each coil is one bit)`);
  } else if (fixed !== undefined) {
    if (limit !== undefined && limit !== fixed && v.type !== undefined)
      r.problem('limit', `${limit} does not match type ${type}, which takes ${fixed} registers`);
    count = fixed;
  } else if (type === 'bitfield' || type === 'boolean') {
    count = limit ?? Math.max(1, Math.ceil(((bitOffset ?? frameworkBit ?? 0) + (bitsKey ?? 1)) / 16));
    if (count > 4) r.problem('limit', `${count} is over 4 registers for a ${type}`);
    if (type === 'boolean' && frameworkBit !== undefined && count > 3)
      r.problem('limit', `${count} registers is too wide for one bit's word (max 3)`);
  } else {
    if (limit === undefined) r.problem('limit', `is required for type ${type} (number of registers)`);
    count = limit ?? 1;
  }
  let bits = bitsKey ?? (type === 'bitfield' && bitOffset === undefined ? count * (isBits ? 1 : 16) : 1);
  if (type === 'boolean' && frameworkBit !== undefined) {
    // the driver hands the framework the whole word; the framework's `bit` picks the bit
    if (frameworkBit + 1 > count * 16) r.problem('bit', `${frameworkBit} does not fit in ${count} register(s)`);
    type = 'bitfield';
    bits = count * 16;
  }
  if (bitOffset !== undefined && !isBits && bitOffset + bits > count * 16)
    r.problem('bitOffset', `${bitOffset} with ${bits} bit(s) does not fit in ${count} register(s)`);
  if (bits > 53) r.problem('bits', `${bits} is over 53 bits`);

  const maxCount = isBits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS;
  if (count > maxCount) r.problem('limit', `${count} is over ${maxCount}, the most one Modbus read can return`);
  if (offset > MODBUS_MAX_ADDRESS) r.problem('offset', `${offset} is beyond ${MODBUS_MAX_ADDRESS}`);
  else if (offset + count - 1 > MODBUS_MAX_ADDRESS)
    r.problem('offset', `${offset} with ${count} ${isBits ? 'bit' : 'register'}(s) ends beyond ${MODBUS_MAX_ADDRESS}`);

  const writable = (table === 'coil' || table === 'holding') && property.accessMode !== 'ReadOnly';
  let writeFunction: 5 | 6 | 15 | 16 = table === 'coil' ? (count === 1 ? 5 : 15) : count === 1 ? 6 : 16;
  if (r.has('writeFunction')) {
    const wf = Number(v.writeFunction);
    if (wf !== 5 && wf !== 6 && wf !== 15 && wf !== 16)
      r.problem('writeFunction', `${String(v.writeFunction)} is not 5, 6, 15 or 16`);
    else if (readOnlyTable) r.problem('writeFunction', `${String(registerName)} cannot be written`);
    else if (table === 'coil' && wf !== 5 && wf !== 15)
      r.problem('writeFunction', `${wf} cannot write coils (use 5 or 15)`);
    else if (table === 'holding' && wf !== 6 && wf !== 16)
      r.problem('writeFunction', `${wf} cannot write holding registers (use 6 or 16)`);
    else if ((wf === 5 || wf === 6) && count !== 1)
      r.problem('writeFunction', `${wf} writes one ${isBits ? 'coil' : 'register'}, but the value takes ${count}`);
    else writeFunction = wf;
  }
  if (isBits && count > MODBUS_MAX_WRITE_COILS && writable)
    r.problem('limit', `${count} coils cannot be written in one request`);
  if (!isBits && count > MODBUS_MAX_WRITE_REGISTERS && writable)
    r.problem('limit', `${count} registers cannot be written in one request (max ${MODBUS_MAX_WRITE_REGISTERS})`);

  if (!table) return { ok: false, issues: r.issues };
  return r.result(() => {
    const point: ModbusPoint = {
      property: property.name,
      table,
      offset,
      count,
      type: type as ModbusType,
      order: order as ModbusOrder,
      bits,
      encoding,
      writeFunction,
      writable,
    };
    if (bitOffset !== undefined) point.bit = bitOffset;
    if (frameworkBit !== undefined) point.booleanBit = frameworkBit;
    return point;
  });
}

function tableFromName(name: string): ModbusTable | undefined {
  const direct = MODBUS_REGISTER_NAMES[name];
  if (direct) return direct;
  // lenient about case and the "Register" suffix ("holding", "Coil"), strict about anything else
  const n = name.toLowerCase().replace(/register$/, '');
  if (n === 'coil') return 'coil';
  if (n === 'discreteinput' || n === 'discrete') return 'discrete';
  if (n === 'holding') return 'holding';
  if (n === 'input') return 'input';
  return undefined;
}

function explicitType(r: ConfigReader): ModbusType | undefined {
  if (!r.has('type')) return undefined;
  const raw = r.data.type;
  const t = String(raw).toLowerCase();
  if ((MODBUS_TYPES as readonly string[]).includes(t)) return t as ModbusType;
  if (t === 'float') return 'float32';
  if (t === 'double') return 'float64';
  if (t === 'bool') return 'boolean';
  r.problem('type', `"${String(raw)}" is not one of ${MODBUS_TYPES.join(', ')}`);
  return undefined;
}

/**
 * KubeEdge's dataType says only int/float/double/...; the register count (`limit`) gives the width. KubeEdge
 * decodes integers unsigned, and its temperature demo reads a one-register `float` as a scaled integer.
 */
function inferType(r: ConfigReader, modelType: PropertyType | undefined, limit: number | undefined): ModbusType {
  const dataType = r.data.dataType;
  const dt = String(r.has('dataType') ? dataType : (modelType ?? 'int')).toLowerCase();
  const n = limit ?? 1;
  switch (dt) {
    case 'int':
    case 'integer':
      return n >= 4 ? 'uint64' : n >= 2 ? 'uint32' : 'uint16';
    case 'float':
    case 'double':
      return n >= 4 ? 'float64' : n >= 2 ? 'float32' : 'uint16';
    case 'boolean':
    case 'bool':
      return 'boolean';
    case 'string':
      return 'string';
    case 'bytes':
      return 'bytes';
    default:
      r.problem('dataType', `"${String(dataType)}" is not one of int, float, double, string, boolean, bytes`);
      return 'uint16';
  }
}

function orderFromSwaps(isSwap: boolean, isRegisterSwap: boolean): ModbusOrder {
  if (isSwap && isRegisterSwap) return 'DCBA';
  if (isSwap) return 'BADC';
  if (isRegisterSwap) return 'CDAB';
  return 'ABCD';
}

// ---------------------------------------------------------------------------------------------------------
// Protocol (connection) config

export interface ModbusProtocolConfig {
  mode: 'tcp' | 'rtu';
  /** TCP */
  host: string;
  port: number;
  /** RTU */
  serialPath: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  stopBits: 1 | 2;
  parity: 'none' | 'even' | 'odd';
  /** unit identifier (slave ID) */
  slaveId: number;
  /** per-request timeout (ms) */
  timeoutMs: number;
  /** registers (or bits) of gap allowed between properties read in one request */
  maxGap: number;
  /** largest register count per read (some devices accept fewer than 125) */
  maxReadRegisters: number;
  /**
   * TCP: requests the gateway may have outstanding at once (MBAP transaction ids tell the answers apart).
   * 1 (the default, as KubeEdge's mappers: one request at a time per connection) is safe for every gateway;
   * more only for gateways known to take concurrent transactions (issue 15). RTU: always 1.
   */
  maxInFlight: number;
  /** the connection several devices share: tcp://host:port or rtu:/dev/tty... */
  lineKey: string;
}

export const MODBUS_DEFAULT_PORT = 502;
export const MODBUS_DEFAULT_TIMEOUT_MS = 1000;
export const MODBUS_DEFAULT_MAX_GAP = 8;
/** Most requests outstanding on one TCP connection that `maxInFlight` may ask for. */
export const MODBUS_MAX_IN_FLIGHT = 16;

/** Reads a device's protocol configData (KubeEdge keys, plus timeout, maxGap, maxReadRegisters, maxInFlight). */
export function parseModbusProtocol(config: ConfigData): ConfigParse<ModbusProtocolConfig> {
  const r = new ConfigReader(config);
  const serialPath = String(config.serialName ?? config.serialPort ?? '');
  const modeRaw = String(config.communicateMode ?? (serialPath ? 'RTU' : 'TCP')).toUpperCase();
  if (modeRaw !== 'TCP' && modeRaw !== 'RTU')
    r.problem('communicateMode', `"${String(config.communicateMode)}" is not TCP or RTU`);
  const mode = modeRaw === 'RTU' ? 'rtu' : 'tcp';
  const host = String(config.ip ?? config.host ?? '127.0.0.1');
  const port = r.int('port', MODBUS_DEFAULT_PORT);
  if (mode === 'tcp' && (port < 1 || port > 65535)) r.problem('port', `${port} is not a TCP port (1..65535)`);
  const slaveId = r.int('slaveID', r.int('slaveId', 1));
  if (slaveId > 255) r.problem('slaveID', `${slaveId} is not a unit ID (0..255; 1..247 on RTU)`);
  const timeoutMs = r.int('timeout', MODBUS_DEFAULT_TIMEOUT_MS);
  if (timeoutMs < 1) r.problem('timeout', 'must be at least 1 ms');
  const baudRate = r.int('baudRate', 9600);
  const dataBits = r.int('dataBits', 8);
  if (dataBits < 5 || dataBits > 8) r.problem('dataBits', `${dataBits} is not 5, 6, 7 or 8`);
  const stopBits = r.int('stopBits', 1);
  if (stopBits !== 1 && stopBits !== 2) r.problem('stopBits', `${stopBits} is not 1 or 2`);
  const parityRaw = String(config.parity ?? 'none').toLowerCase();
  const parity =
    parityRaw === 'even' || parityRaw === 'e' ? 'even' : parityRaw === 'odd' || parityRaw === 'o' ? 'odd' : 'none';
  if (!['even', 'e', 'odd', 'o', 'none', 'n', ''].includes(parityRaw))
    r.problem('parity', `"${String(config.parity)}" is not None, Even or Odd`);
  const maxGap = r.int('maxGap', MODBUS_DEFAULT_MAX_GAP);
  const maxReadRegisters = r.int('maxReadRegisters', MODBUS_MAX_READ_REGISTERS);
  if (maxReadRegisters < 1 || maxReadRegisters > MODBUS_MAX_READ_REGISTERS)
    r.problem('maxReadRegisters', `${maxReadRegisters} is not 1..${MODBUS_MAX_READ_REGISTERS}`);
  if (mode === 'rtu' && !serialPath) r.problem('serialName', 'is required for communicateMode RTU (e.g. /dev/ttyUSB0)');
  const maxInFlight = r.int('maxInFlight', 1, 1, MODBUS_MAX_IN_FLIGHT);
  if (mode === 'rtu' && maxInFlight > 1)
    r.problem(
      'maxInFlight',
      `${maxInFlight}: an RTU line carries one request at a time (only a TCP gateway can take more)`,
    );
  return r.result(() => ({
    mode,
    host,
    port,
    serialPath,
    baudRate,
    dataBits: dataBits as 5 | 6 | 7 | 8,
    stopBits: stopBits as 1 | 2,
    parity,
    slaveId,
    timeoutMs,
    maxGap,
    maxReadRegisters,
    maxInFlight,
    lineKey: mode === 'tcp' ? `tcp://${host}:${port}` : `rtu:${serialPath}`,
  }));
}

/** Every problem of a Modbus device's protocol and visitor config (validate, apply and the mapper). */
export function validateModbusDevice(device: ResolvedDevice): ConfigIssue[] {
  const proto = parseModbusProtocol(device.protocolConfig);
  const issues = proto.ok ? [...proto.notices] : [...proto.issues];
  for (const prop of device.properties) {
    const p = parseModbusVisitor(prop);
    if (!p.ok) {
      issues.push(...p.issues);
      continue;
    }
    issues.push(...p.notices);
    // Input registers and discrete inputs cannot be written on any Modbus device: a desired value there is
    // a manifest error, found before anything connects. A ReadWrite property there is only a notice
    // (ReadWrite is the default access mode, so many read-only manifests say it without meaning it).
    const table = p.value.table;
    if (table !== 'input' && table !== 'discrete') continue;
    const register = String(prop.visitor.register);
    if (prop.desired?.value !== undefined && prop.desired.value !== '')
      issues.push({
        property: prop.name,
        key: 'register',
        message: `${register} is read-only on every Modbus device, but the property has a desired value (use HoldingRegister or CoilRegister to write)`,
      });
    else if (prop.accessMode === 'ReadWrite')
      issues.push({
        property: prop.name,
        key: 'register',
        message: `${register} is read-only on every Modbus device: writes to this ReadWrite property are refused (declare accessMode ReadOnly)`,
        severity: 'notice',
      });
  }
  return issues;
}
