// A small Modbus TCP server on `net`: parses MBAP frames and answers each request synchronously, so the
// simulator adds microseconds, not the ~1 ms per request of modbus-serial's ServerTCP (reference libs.md).

import { createServer, type Server, type Socket } from 'node:net';
import type { UnitRouter } from './router.js';

const MBAP = 7;

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** drops every open connection (the server keeps listening) */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function listenModbusTcp(router: UnitRouter, host: string, port: number): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const replies: Buffer[] = [];
      while (buf.length >= MBAP) {
        const length = buf.readUInt16BE(4);
        if (length < 2 || length > 254) {
          // not Modbus TCP: a real device would drop the connection
          socket.destroy();
          return;
        }
        const total = 6 + length;
        if (buf.length < total) break;
        const frame = buf.subarray(0, total);
        buf = buf.subarray(total);
        const protocolId = frame.readUInt16BE(2);
        if (protocolId !== 0) continue;
        const unit = frame[6] ?? 0;
        const answer = router.answer(unit, frame.subarray(MBAP), 'tcp');
        if (answer.kind === 'disconnect') {
          socket.destroy();
          return;
        }
        if (answer.kind === 'silent') continue;
        const out = Buffer.alloc(MBAP + answer.pdu.length);
        frame.copy(out, 0, 0, 4); // transaction and protocol IDs
        out.writeUInt16BE(answer.pdu.length + 1, 4);
        out[6] = unit;
        answer.pdu.copy(out, MBAP);
        replies.push(out);
      }
      if (replies.length === 1) socket.write(replies[0] as Buffer);
      else if (replies.length > 1) socket.write(Buffer.concat(replies));
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'EACCES' && port < 1024 ? ' (ports below 1024 need privileges: use another port)' : '';
      reject(new Error(`cannot listen on ${host}:${port}: ${e.message}${hint}`, { cause: e }));
    });
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    host,
    port: bound,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
