// Bytes <-> raw values for BLE characteristics and advertisement payloads (issue 12, docs/ble.md).
// One converter for GATT values and advertisement data: KubeEdge's `dataConverter` (byte range, shifts,
// ordered arithmetic), our `dataType` (typed little/big-endian fields), and KubeEdge's `dataWrite` map.
//
// dataConverter semantics (a decision, docs/decisions.md "BLE"): the bytes startIndex..endIndex (both
// inclusive; walked downwards when startIndex > endIndex) form ONE unsigned integer, the first byte
// walked being the most significant. KubeEdge's two mappers instead concatenate each byte's decimal
// digits and parse that string (base 16 in the old in-tree mapper, base 10 in mappers-go), which
// gives no physical meaning; with ours the CC2650 example (start 1, end 0, shiftRight 2, x 0.03125)
// yields TI's documented object temperature in degrees Celsius.

export type DataType =
  | 'uint8'
  | 'int8'
  | 'uint16le'
  | 'uint16be'
  | 'int16le'
  | 'int16be'
  | 'uint24le'
  | 'uint24be'
  | 'int24le'
  | 'int24be'
  | 'uint32le'
  | 'uint32be'
  | 'int32le'
  | 'int32be'
  | 'float32le'
  | 'float32be'
  | 'float64le'
  | 'float64be'
  | 'bool'
  | 'utf8'
  | 'hex';

export const DATA_TYPES: readonly DataType[] = [
  'uint8',
  'int8',
  'uint16le',
  'uint16be',
  'int16le',
  'int16be',
  'uint24le',
  'uint24be',
  'int24le',
  'int24be',
  'uint32le',
  'uint32be',
  'int32le',
  'int32be',
  'float32le',
  'float32be',
  'float64le',
  'float64be',
  'bool',
  'utf8',
  'hex',
];

export type Operation = { operationType: 'Add' | 'Subtract' | 'Multiply' | 'Divide'; operationValue: number };

export interface DataConverter {
  startIndex: number;
  endIndex: number;
  shiftLeft: number;
  shiftRight: number;
  orderOfOperations: Operation[];
}

export interface Codec {
  converter?: DataConverter;
  dataType?: DataType;
  /** byte index where a dataType field starts (default 0) */
  byteOffset: number;
  /** dataWrite: value -> bytes; reads map bytes back to their key */
  dataWrite?: Map<string, Buffer>;
}

export class CodecError extends Error {}

function fieldSize(t: DataType): number | undefined {
  if (t === 'utf8' || t === 'hex') return undefined;
  if (t === 'bool' || t.endsWith('int8')) return 1;
  if (t.includes('16')) return 2;
  if (t.includes('24')) return 3;
  if (t.includes('32')) return 4;
  return 8;
}

/** The bytes of a dataConverter range as one unsigned integer, then shifts, then the operations in order. */
export function applyConverter(c: DataConverter, data: Buffer): number {
  const last = Math.max(c.startIndex, c.endIndex);
  if (last >= data.length)
    throw new CodecError(`dataConverter reads byte ${last} but the value has ${data.length} byte(s)`);
  const step = c.startIndex <= c.endIndex ? 1 : -1;
  let n = 0n;
  for (let i = c.startIndex; ; i += step) {
    n = (n << 8n) | BigInt(data[i] as number);
    if (i === c.endIndex) break;
  }
  if (c.shiftLeft) n <<= BigInt(c.shiftLeft);
  if (c.shiftRight) n >>= BigInt(c.shiftRight);
  let v = Number(n);
  for (const op of c.orderOfOperations) {
    if (op.operationType === 'Add') v += op.operationValue;
    else if (op.operationType === 'Subtract') v -= op.operationValue;
    else if (op.operationType === 'Multiply') v *= op.operationValue;
    else v /= op.operationValue;
  }
  return v;
}

function readField(t: DataType, data: Buffer, at: number): number | boolean | string {
  const size = fieldSize(t);
  if (size !== undefined && at + size > data.length)
    throw new CodecError(`dataType ${t} at byte ${at} needs ${size} byte(s) but the value has ${data.length}`);
  switch (t) {
    case 'uint8':
      return data.readUInt8(at);
    case 'int8':
      return data.readInt8(at);
    case 'uint16le':
      return data.readUInt16LE(at);
    case 'uint16be':
      return data.readUInt16BE(at);
    case 'int16le':
      return data.readInt16LE(at);
    case 'int16be':
      return data.readInt16BE(at);
    case 'uint24le':
      return data.readUIntLE(at, 3);
    case 'uint24be':
      return data.readUIntBE(at, 3);
    case 'int24le':
      return data.readIntLE(at, 3);
    case 'int24be':
      return data.readIntBE(at, 3);
    case 'uint32le':
      return data.readUInt32LE(at);
    case 'uint32be':
      return data.readUInt32BE(at);
    case 'int32le':
      return data.readInt32LE(at);
    case 'int32be':
      return data.readInt32BE(at);
    case 'float32le':
      return data.readFloatLE(at);
    case 'float32be':
      return data.readFloatBE(at);
    case 'float64le':
      return data.readDoubleLE(at);
    case 'float64be':
      return data.readDoubleBE(at);
    case 'bool':
      return data.readUInt8(at) !== 0;
    case 'utf8':
      return data.subarray(at).toString('utf8').replace(/\0+$/, '');
    case 'hex':
      return data.subarray(at).toString('hex');
  }
}

/** Decodes a characteristic value or advertisement payload into the driver's raw value. */
export function decode(codec: Codec, data: Buffer): number | boolean | string {
  if (codec.dataWrite) {
    for (const [key, bytes] of codec.dataWrite) if (bytes.equals(data)) return key;
  }
  if (codec.converter) return applyConverter(codec.converter, data);
  if (codec.dataType) return readField(codec.dataType, data, codec.byteOffset);
  if (codec.dataWrite) throw new CodecError(`value 0x${data.toString('hex')} matches no dataWrite entry`);
  return data.toString('hex');
}

function writeField(t: DataType, v: number | boolean | string): Buffer {
  if (t === 'utf8') return Buffer.from(String(v), 'utf8');
  if (t === 'hex') {
    const s = String(v);
    if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new CodecError(`"${s}" is not hex bytes`);
    return Buffer.from(s, 'hex');
  }
  const n = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : Number.NaN;
  if (!Number.isFinite(n)) throw new CodecError(`${JSON.stringify(v)} is not a number for dataType ${t}`);
  const size = fieldSize(t) as number;
  const b = Buffer.alloc(size);
  try {
    if (t === 'bool') b.writeUInt8(n ? 1 : 0);
    else if (t.startsWith('float32')) t.endsWith('le') ? b.writeFloatLE(n) : b.writeFloatBE(n);
    else if (t.startsWith('float64')) t.endsWith('le') ? b.writeDoubleLE(n) : b.writeDoubleBE(n);
    else {
      if (!Number.isInteger(n)) throw new CodecError(`${n} is not an integer for dataType ${t}`);
      const signed = t.startsWith('int');
      const be = t.endsWith('be');
      if (signed) be ? b.writeIntBE(n, 0, size) : b.writeIntLE(n, 0, size);
      else be ? b.writeUIntBE(n, 0, size) : b.writeUIntLE(n, 0, size);
    }
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`${n} does not fit dataType ${t}`);
  }
  return b;
}

/** Encodes a raw value to write: a dataWrite entry by its key, else the dataType field. */
export function encode(codec: Codec, v: number | boolean | string): Buffer {
  if (codec.dataWrite) {
    const bytes = codec.dataWrite.get(String(v));
    if (bytes) return bytes;
    if (!codec.dataType)
      throw new CodecError(`${JSON.stringify(v)} is not a dataWrite key (${[...codec.dataWrite.keys()].join(', ')})`);
  }
  if (codec.dataType) return writeField(codec.dataType, v);
  if (codec.converter)
    throw new CodecError('a dataConverter property can be written only through dataWrite or with a dataType');
  if (typeof v === 'string') return writeField('hex', v);
  throw new CodecError(`give the property a dataType or dataWrite to write ${JSON.stringify(v)}`);
}
