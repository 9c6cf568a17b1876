// The serial port binding of Modbus RTU lines, guarded against a shared tty's settings changing under it
// (issue 9 §5, "RTU busy loop"). The settings of a tty (termios) belong to the device, not to one opener:
// when another program opens the mapper's port, pyserial for one, it may set VMIN=0 VTIME=0, after which a
// read of the port returns 0 bytes at once instead of waiting. @serialport/bindings-cpp's unixRead reads
// again at once on 0 bytes, forever: a mapper at 80-90% CPU. Here a read that returns nothing reopens the
// port, which applies the line's own settings again (VMIN=1, its baud rate and framing, which the other
// program may have changed too); the Modbus line reconnects with its usual backoff.

import { read } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';

const readAsync = promisify(read);

/** What a @serialport binding's open() resolves to on Linux and macOS (bindings-cpp's PortBinding). */
interface UnixPort {
  readonly isOpen: boolean;
  fd: number | null;
  poller?: { once(event: 'readable', cb: (err: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number; buffer: Buffer }>;
}

type Binding = typeof SerialPort.binding;

const RETRY_CODES = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);
const GONE_CODES = new Set(['EBADF', 'ENXIO', 'EIO', 'UNKNOWN']);

/**
 * The platform binding with a read that never spins. `onSettingsChanged(path)` is called when a read found
 * the port's settings changed by someone else (before the port is reopened), for a log line and a metric.
 */
export function guardedSerialBinding(onSettingsChanged: (path: string) => void): Binding {
  const base = SerialPort.binding;
  return {
    ...base,
    list: () => base.list(),
    async open(options: Parameters<Binding['open']>[0]) {
      const port = (await base.open(options as never)) as unknown as UnixPort;
      if (typeof port.fd === 'number' && port.poller) {
        port.read = (buffer, offset, length) =>
          guardedRead(port, options.path, buffer, offset, length, onSettingsChanged);
      }
      return port as unknown as Awaited<ReturnType<Binding['open']>>;
    },
  } as Binding;
}

function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function readable(port: UnixPort): Promise<void> {
  return new Promise((resolve, reject) => port.poller!.once('readable', (err) => (err ? reject(err) : resolve())));
}

/** bindings-cpp's unixRead, except that 0 bytes is not read again at once. */
async function guardedRead(
  port: UnixPort,
  path: string,
  buffer: Buffer,
  offset: number,
  length: number,
  onSettingsChanged: (path: string) => void,
): Promise<{ bytesRead: number; buffer: Buffer }> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw canceled();
    let bytesRead: number;
    try {
      ({ bytesRead } = await readAsync(port.fd, buffer, offset, length, null));
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { disconnect?: boolean };
      if (err.code && RETRY_CODES.has(err.code)) {
        if (!port.isOpen) throw canceled();
        await readable(port);
        continue;
      }
      if ((err.code && GONE_CODES.has(err.code)) || err.errno === -1) err.disconnect = true;
      throw err;
    }
    if (bytesRead > 0) return { bytesRead, buffer };
    // A non-blocking tty with VMIN=0 VTIME=0 answers "no data" with 0 instead of EAGAIN: our settings were
    // changed by another opener. Reopen (the stream closes on this error; the line reconnects with backoff).
    onSettingsChanged(path);
    throw Object.assign(
      new Error(
        `serial port ${path}: a read returned nothing at once; another program changed the port's settings (VMIN=0); reopening it`,
      ),
      { disconnect: true },
    );
  }
}
