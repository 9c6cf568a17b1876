// One Modbus connection shared by every device behind it: a TCP gateway (tcp://ip:port) or an RS-485 line
// (rtu:/dev/tty...). Requests run in arrival order, each with its own unit ID and timeout. By default one at a
// time, so several slaves never interleave frames on one bus. A TCP gateway that takes concurrent
// transactions (protocol config `maxInFlight`, opt-in: many gateways take one at a time) gets up to that many
// requests outstanding, told apart by their MBAP transaction ids, and the requests sent in one turn of the
// event loop leave in one write (issue 15: the socket write of each request was the mapper's largest cost).

import type { ModbusProtocolConfig } from './config.js';
import M from 'modbus-serial';
import { guardedSerialBinding } from './serial-binding.js';
import type { Logger } from 'pino';
import { DriverError } from '../../framework/driver.js';

type Client = InstanceType<typeof M.default>;

/** Node-style callback of modbus-serial's writeFCn functions. */
type Callback<T> = (err: Error | null, data: T) => void;

interface Job {
  timeoutMs: number;
  call: (client: Client, done: Callback<unknown>) => void;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface LineOptions {
  /** at most one connection attempt per this many ms after a failure */
  reconnectMinMs: number;
  logger: Logger;
}

export class ModbusLine {
  refs = 0;
  private client: Client | undefined;
  private readonly queue: Job[] = [];
  private readonly pumpNext = () => this.pump();
  /** requests sent and not answered */
  private inflight = 0;
  /** most requests outstanding at once: 1, or the gateway's maxInFlight (the least its devices give) */
  maxInFlight: number;
  /** the socket is corked until the check phase: the requests of this turn leave in one write */
  private corked: { uncork(): void } | undefined;
  private readonly uncork = () => {
    const sock = this.corked;
    this.corked = undefined;
    sock?.uncork();
  };
  /** socket writes that carried requests, and the requests they carried (metrics, tests) */
  writes = 0;
  sent = 0;
  private opening: Promise<void> | undefined;
  private lastFailure: { at: number; error: DriverError } | undefined;
  private readonly failInflight = new Set<(e: Error) => void>();
  private closed = false;

  constructor(
    readonly key: string,
    private readonly cfg: ModbusProtocolConfig,
    private readonly opts: LineOptions,
  ) {
    this.maxInFlight = cfg.mode === 'tcp' ? cfg.maxInFlight : 1;
  }

  get connected(): boolean {
    return this.client?.isOpen === true;
  }

  /** Opens the connection if it is not open (honouring the reconnect interval). */
  open(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.opening) return this.opening;
    const failed = this.lastFailure;
    if (failed && Date.now() - failed.at < this.opts.reconnectMinMs) return Promise.reject(failed.error);
    this.opening = this.connect().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /**
   * Runs one request on the line after every request queued before it is sent: alone, or with at most
   * maxInFlight - 1 others outstanding. The request's callback API gets the client; a connection lost
   * mid-request fails it at once instead of at its timeout.
   */
  request<T>(timeoutMs: number, call: (client: Client, done: Callback<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ timeoutMs, call: call as Job['call'], resolve: resolve as Job['resolve'], reject });
      if (this.inflight < this.maxInFlight) this.pump();
    });
  }

  /** Sends queued requests while fewer than maxInFlight are outstanding. */
  private pump(): void {
    while (this.inflight < this.maxInFlight) {
      const job = this.queue.shift();
      if (!job) return;
      this.inflight++;
      if (this.closed) {
        this.inflight--;
        job.reject(new DriverError(`${this.key}: line is closed`, 'not-connected', false));
        continue;
      }
      if (this.connected) {
        this.send(job);
        continue;
      }
      this.open().then(
        () => this.send(job),
        (e: unknown) => {
          this.inflight--;
          job.reject(e as Error);
          this.pump();
        },
      );
    }
  }

  private send(job: Job): void {
    const client = this.client;
    if (!client) {
      // closed while this request waited for the connection
      this.inflight--;
      job.reject(new DriverError(`${this.key}: line is closed`, 'not-connected', false));
      this.pump();
      return;
    }
    client.setTimeout(job.timeoutMs);
    let settled = false;
    const settle = (e: Error | null, v?: unknown) => {
      if (settled) return;
      settled = true;
      this.inflight--;
      this.failInflight.delete(settle);
      // the next request goes out before the caller processes this answer, so the line never waits
      // for the mapper's own work (decoding, reporting) between two requests
      // (a resolved promise, not queueMicrotask: that one builds an AsyncResource per call)
      void Promise.resolve().then(this.pumpNext);
      if (e) job.reject(e);
      else job.resolve(v);
    };
    this.failInflight.add(settle);
    this.sent++;
    if (this.maxInFlight > 1) this.corkTurn(client);
    else this.writes++;
    try {
      job.call(client, settle);
    } catch (e) {
      settle(e as Error);
    }
  }

  /**
   * Holds this turn's requests in the socket until the check phase, so the requests of every device due
   * now leave in one write (modbus-serial writes each request in a promise job of its own).
   */
  private corkTurn(client: Client): void {
    if (this.corked) return;
    const sock = socketOf(client);
    if (!sock) {
      this.writes++;
      return;
    }
    sock.cork();
    this.corked = sock;
    this.writes++;
    setImmediate(this.uncork);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0))
      job.reject(new DriverError(`${this.key}: line is closed`, 'not-connected', false));
    const c = this.client;
    this.client = undefined;
    if (c) await closeClient(c);
  }

  private async connect(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    if (old) await closeClient(old);
    const client = new M.default();
    // modbus-serial re-emits port errors; without a listener an EventEmitter error would crash the process
    client.on('error', (e: unknown) =>
      this.opts.logger.debug({ line: this.key, err: (e as Error).message }, 'modbus line error'),
    );
    try {
      if (this.cfg.mode === 'tcp') {
        // modbus-serial's `timeout` option is a socket idle timeout, not a connect timeout: bound it here
        await withTimeout(
          client.connectTCP(this.cfg.host, { port: this.cfg.port }),
          Math.max(1000, this.cfg.timeoutMs),
        );
      } else {
        await client.connectRTUBuffered(this.cfg.serialPath, {
          // reads that never spin when another program changes the shared port settings (serial-binding.ts)
          binding: guardedSerialBinding((path) =>
            this.opts.logger.warn(
              { line: this.key, path },
              'serial port settings changed by another program (reads return nothing); reopening the port',
            ),
          ),
          baudRate: this.cfg.baudRate,
          dataBits: this.cfg.dataBits,
          stopBits: this.cfg.stopBits,
          parity: this.cfg.parity,
        } as Parameters<Client['connectRTUBuffered']>[1]);
      }
    } catch (e) {
      const error = new DriverError(`${this.key}: cannot connect: ${(e as Error).message}`, 'connection', true, {
        cause: e,
      });
      this.lastFailure = { at: Date.now(), error };
      await closeClient(client);
      throw error;
    }
    if (this.closed) {
      await closeClient(client);
      throw new DriverError(`${this.key}: line is closed`, 'not-connected', false);
    }
    this.lastFailure = undefined;
    this.client = client;
    client.on('close', () => {
      if (this.client !== client) return;
      this.opts.logger.warn({ line: this.key }, 'modbus connection lost');
      const lost = new DriverError(`${this.key}: connection lost`, 'connection', true);
      for (const fail of [...this.failInflight]) fail(lost);
    });
    this.opts.logger.info({ line: this.key }, 'modbus connected');
  }
}

/** The TCP socket under a modbus-serial client (its TcpPort's `_client`, modbus-serial 8.0), if it has one. */
function socketOf(client: Client): { cork(): void; uncork(): void } | undefined {
  const port = (client as unknown as { _port?: { _client?: { cork?: unknown; uncork?: unknown } } })._port;
  const sock = port?._client;
  return sock && typeof sock.cork === 'function' && typeof sock.uncork === 'function'
    ? (sock as { cork(): void; uncork(): void })
    : undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connect timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function closeClient(c: Client): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!c.isOpen) {
      c.destroy(() => resolve());
      // destroy() on a never-opened port may not call back
      setImmediate(resolve);
      return;
    }
    c.close(() => resolve());
  });
}

/** Lines keyed by tcp://host:port or rtu:/dev/..., shared by refcount and closed with their last device. */
export class LineRegistry {
  private readonly lines = new Map<string, ModbusLine>();

  constructor(private readonly opts: LineOptions) {}

  acquire(cfg: ModbusProtocolConfig): ModbusLine {
    let line = this.lines.get(cfg.lineKey);
    if (!line) {
      line = new ModbusLine(cfg.lineKey, cfg, this.opts);
      this.lines.set(cfg.lineKey, line);
    } else if (cfg.mode === 'tcp') {
      // concurrency is the gateway's: the least any of its devices allows
      line.maxInFlight = Math.min(line.maxInFlight, cfg.maxInFlight);
    }
    line.refs++;
    return line;
  }

  async release(line: ModbusLine): Promise<void> {
    line.refs--;
    if (line.refs > 0) return;
    if (this.lines.get(line.key) === line) this.lines.delete(line.key);
    await line.close();
  }

  get size(): number {
    return this.lines.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.lines.values()];
    this.lines.clear();
    await Promise.all(all.map((l) => l.close()));
  }
}
