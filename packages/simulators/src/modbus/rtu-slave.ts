// A Modbus RTU slave on a serial port path (a real adapter, or one end of a socat PTY pair in tests).
// Frames are found by their function code's length and checked by CRC; garbage is skipped a byte at a time.

import { modbusCrc16 } from '@edgetwin/mappers/drivers/modbus/codec';
import { SerialPort } from 'serialport';
import { requestPduLength } from './pdu.js';
import type { UnitRouter } from './router.js';

export interface RtuListener {
  readonly path: string;
  close(): Promise<void>;
}

export interface RtuOptions {
  path: string;
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 2;
  parity?: 'none' | 'even' | 'odd';
}

export async function listenModbusRtu(router: UnitRouter, opts: RtuOptions): Promise<RtuListener> {
  const port = new SerialPort({
    path: opts.path,
    baudRate: opts.baudRate ?? 9600,
    dataBits: opts.dataBits ?? 8,
    stopBits: opts.stopBits ?? 1,
    parity: opts.parity ?? 'none',
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => (err ? reject(new Error(`cannot open ${opts.path}: ${err.message}`)) : resolve())),
  );
  let buf: Buffer = Buffer.alloc(0);
  port.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      const frame = nextFrame(buf);
      if (frame === 'need-more') break;
      if (frame === 'skip') {
        buf = buf.subarray(1);
        continue;
      }
      buf = buf.subarray(frame.length);
      const unit = frame[0] ?? 0;
      const pdu = frame.subarray(1, frame.length - 2);
      // unit 0 is broadcast: writes are applied, nobody answers
      const answer = router.answer(unit, pdu, 'rtu');
      if (answer.kind !== 'reply' || unit === 0) continue;
      const out = Buffer.alloc(answer.pdu.length + 3);
      out[0] = unit;
      answer.pdu.copy(out, 1);
      out.writeUInt16LE(modbusCrc16(out, out.length - 2), out.length - 2);
      port.write(out);
    }
  });
  port.on('error', () => {});
  return {
    path: opts.path,
    close() {
      return new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      });
    },
  };
}

function nextFrame(buf: Buffer): Buffer | 'need-more' | 'skip' {
  if (buf.length < 4) return 'need-more';
  const pduLen = requestPduLength(buf.subarray(1));
  if (pduLen === undefined) {
    // unknown function: accept the shortest prefix with a valid CRC, so it can be answered with exception 1
    for (let n = 4; n <= buf.length; n++) if (crcOk(buf, n)) return buf.subarray(0, n);
    return buf.length > 256 ? 'skip' : 'need-more';
  }
  const total = 1 + pduLen + 2;
  if (!Number.isFinite(total) || buf.length < total) return 'need-more';
  return crcOk(buf, total) ? buf.subarray(0, total) : 'skip';
}

function crcOk(buf: Buffer, n: number): boolean {
  return modbusCrc16(buf, n - 2) === buf.readUInt16LE(n - 2);
}
