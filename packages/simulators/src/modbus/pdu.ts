// Answers one Modbus request PDU (function code + data) against a RegisterBank, synchronously, for the TCP
// server and the RTU slave alike. Functions 1, 2, 3, 4, 5, 6, 15, 16; anything else is exception 1.

import {
  MODBUS_MAX_READ_BITS,
  MODBUS_MAX_READ_REGISTERS,
  MODBUS_MAX_WRITE_COILS,
  MODBUS_MAX_WRITE_REGISTERS,
  type ModbusTable,
} from '@edgetwin/mappers/drivers/modbus/config';
import type { RegisterBank } from './register-bank.js';

export const EXCEPTION_ILLEGAL_FUNCTION = 1;
export const EXCEPTION_ILLEGAL_ADDRESS = 2;
export const EXCEPTION_ILLEGAL_VALUE = 3;
export const EXCEPTION_DEVICE_FAILURE = 4;
export const EXCEPTION_GATEWAY_TARGET = 11;

/** Called after a master wrote [offset, offset+count) of a table. */
export type WriteListener = (table: ModbusTable, offset: number, count: number) => void;

export function exceptionPdu(fc: number, code: number): Buffer {
  return Buffer.from([(fc | 0x80) & 0xff, code]);
}

export function answerPdu(bank: RegisterBank, pdu: Buffer, onWrite?: WriteListener): Buffer {
  const fc = pdu[0] ?? 0;
  if (pdu.length < 5)
    return exceptionPdu(fc, fc >= 1 && fc <= 16 ? EXCEPTION_ILLEGAL_VALUE : EXCEPTION_ILLEGAL_FUNCTION);
  const addr = pdu.readUInt16BE(1);
  const arg = pdu.readUInt16BE(3);
  switch (fc) {
    case 1:
    case 2: {
      const table = fc === 1 ? 'coil' : 'discrete';
      if (arg < 1 || arg > MODBUS_MAX_READ_BITS) return exceptionPdu(fc, EXCEPTION_ILLEGAL_VALUE);
      if (!bank.has(table, addr, arg)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      const bits = bank.bits(table);
      const n = Math.ceil(arg / 8);
      const out = Buffer.alloc(2 + n);
      out[0] = fc;
      out[1] = n;
      for (let i = 0; i < arg; i++) if (bits[addr + i]) out[2 + (i >> 3)] = (out[2 + (i >> 3)] ?? 0) | (1 << (i & 7));
      return out;
    }
    case 3:
    case 4: {
      const table = fc === 3 ? 'holding' : 'input';
      if (arg < 1 || arg > MODBUS_MAX_READ_REGISTERS) return exceptionPdu(fc, EXCEPTION_ILLEGAL_VALUE);
      if (!bank.has(table, addr, arg)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      const words = bank.words(table);
      const out = Buffer.alloc(2 + arg * 2);
      out[0] = fc;
      out[1] = arg * 2;
      for (let i = 0; i < arg; i++) out.writeUInt16BE(words[addr + i] ?? 0, 2 + i * 2);
      return out;
    }
    case 5: {
      if (arg !== 0xff00 && arg !== 0x0000) return exceptionPdu(fc, EXCEPTION_ILLEGAL_VALUE);
      if (!bank.has('coil', addr, 1)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      bank.bits('coil')[addr] = arg === 0xff00 ? 1 : 0;
      onWrite?.('coil', addr, 1);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 6: {
      if (!bank.has('holding', addr, 1)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      bank.words('holding')[addr] = arg;
      onWrite?.('holding', addr, 1);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 15: {
      const byteCount = pdu[5] ?? -1;
      if (arg < 1 || arg > MODBUS_MAX_WRITE_COILS || byteCount !== Math.ceil(arg / 8) || pdu.length < 6 + byteCount)
        return exceptionPdu(fc, EXCEPTION_ILLEGAL_VALUE);
      if (!bank.has('coil', addr, arg)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      const bits = bank.bits('coil');
      for (let i = 0; i < arg; i++) bits[addr + i] = ((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1;
      onWrite?.('coil', addr, arg);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 16: {
      const byteCount = pdu[5] ?? -1;
      if (arg < 1 || arg > MODBUS_MAX_WRITE_REGISTERS || byteCount !== arg * 2 || pdu.length < 6 + byteCount)
        return exceptionPdu(fc, EXCEPTION_ILLEGAL_VALUE);
      if (!bank.has('holding', addr, arg)) return exceptionPdu(fc, EXCEPTION_ILLEGAL_ADDRESS);
      const words = bank.words('holding');
      for (let i = 0; i < arg; i++) words[addr + i] = pdu.readUInt16BE(6 + i * 2);
      onWrite?.('holding', addr, arg);
      return Buffer.from(pdu.subarray(0, 5));
    }
    default:
      return exceptionPdu(fc, EXCEPTION_ILLEGAL_FUNCTION);
  }
}

/** Bytes of a request PDU for a function code, once its first bytes are known; undefined = unknown function. */
export function requestPduLength(pdu: Uint8Array): number | undefined {
  const fc = pdu[0];
  if (fc === undefined) return undefined;
  if (fc >= 1 && fc <= 6) return 5;
  if (fc === 15 || fc === 16) return pdu.length >= 6 ? 6 + (pdu[5] ?? 0) : Number.POSITIVE_INFINITY;
  return undefined;
}
