// One database (or OTLP endpoint) that readings are written to (issue 17): points are queued without
// waiting, written in batches (by size and by time), kept in a bounded buffer while the database is down
// (oldest dropped first, counted), and the connection is re-made with the framework's one backoff. A slow or
// dead database never delays reads, reports or another sink: offer() only queues.

import type { Logger } from 'pino';
import { backoff, delay, withTimeout } from '../backoff.js';
import type { SinkMetrics } from '../metrics.js';

/** A reading bound for a sink, with the reading's own timestamp (ms). */
export interface SinkPoint {
  namespace: string;
  name: string;
  property: string;
  /** lower-case model type (int, float, double, string, boolean, bytes) */
  type: string;
  value: string;
  timestamp: number;
  /** what this property asks of the sink beyond the connection (influx measurement and tags...) */
  extra?: unknown;
}

/** The database-specific half of a sink. */
export interface SinkWriter {
  connect(): Promise<void>;
  write(points: SinkPoint[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A sink's password or token, read again on every connect: a secret file fixed after the database refused
 * the old one is picked up at the next reconnect, without restarting the mapper.
 */
export type SecretSource = () => string | undefined;

/** The gauge value of a reading (OTEL's only kind), or undefined when it is not a number. */
export function gaugeValue(p: Pick<SinkPoint, 'type' | 'value'>): number | undefined {
  if (p.type === 'boolean') return p.value === 'true' ? 1 : p.value === 'false' ? 0 : undefined;
  if (p.type !== 'int' && p.type !== 'float' && p.type !== 'double') return undefined;
  const n = Number(p.value);
  return Number.isFinite(n) ? n : undefined;
}

/** An error the writer recognised as refused credentials (wrong password or token). */
export class SinkAuthError extends Error {
  override readonly name = 'SinkAuthError';
}

export interface SinkLimits {
  /** points kept while the database is unreachable; beyond it the oldest are dropped */
  maxBuffered: number;
  /** points per write */
  maxBatch: number;
  /** longest a point waits for its batch to fill */
  flushIntervalMs: number;
  /** one connect or write */
  callTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export const DEFAULT_SINK_LIMITS: SinkLimits = {
  maxBuffered: 10_000,
  maxBatch: 500,
  flushIntervalMs: 1000,
  callTimeoutMs: 10_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
};

export interface SinkStatus {
  sink: string;
  connected: boolean;
  buffered: number;
  written: number;
  dropped: number;
  /** the last error while the database is down */
  error?: string;
}

/** A sink's outage began (with why) or ended: told to each property that writes to it (issue 17). */
export type SinkStateListener = (state: 'failing' | 'ok', reason?: string) => void;

export class BatchingSink {
  private readonly queue: SinkPoint[] = [];
  private connected = false;
  private stopped = false;
  private readonly wake = { resolve: undefined as undefined | (() => void) };
  private timer: NodeJS.Timeout | undefined;
  private outage: { since: number; dropped: number; error: string } | undefined;
  private written = 0;
  private dropped = 0;
  private readonly users = new Set<string>();
  /** per device and property that writes here: told when an outage begins, changes cause, or ends */
  private readonly listeners = new Map<string, SinkStateListener>();
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    readonly label: string,
    private readonly writer: SinkWriter,
    private readonly limits: SinkLimits,
    private readonly log: Logger,
    private readonly metrics: SinkMetrics,
  ) {}

  /**
   * A device (ns/name) writes to this sink; named in its error logs. With a listener (one per device and
   * property), it is told of outages; one that joins during an outage is told at once.
   */
  use(device: string, listener?: { key: string; on: SinkStateListener }): void {
    this.users.add(device);
    if (listener && !this.listeners.has(listener.key)) {
      this.listeners.set(listener.key, listener.on);
      if (this.outage) listener.on('failing', this.outage.error);
    }
  }

  /** A device or property no longer writes here (removed, or its pushMethod changed). */
  unuse(key: string): void {
    this.listeners.delete(key);
  }

  private tell(state: 'failing' | 'ok', reason?: string): void {
    for (const on of this.listeners.values()) on(state, reason);
  }

  /** Queues a point; never waits. Beyond the buffer the oldest point is dropped (and counted). */
  offer(point: SinkPoint): void {
    if (this.stopped) return;
    this.queue.push(point);
    if (this.queue.length > this.limits.maxBuffered) {
      this.queue.shift();
      this.dropped++;
      this.metrics.points.inc({ sink: this.label, result: 'dropped' });
      if (this.outage) this.outage.dropped++;
    }
    this.metrics.buffered.set({ sink: this.label }, this.queue.length);
    this.loop ??= this.run();
    if (this.queue.length >= this.limits.maxBatch) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.limits.flushIntervalMs);
  }

  status(): SinkStatus {
    return {
      sink: this.label,
      connected: this.connected,
      buffered: this.queue.length,
      written: this.written,
      dropped: this.dropped,
      ...(this.outage ? { error: this.outage.error } : {}),
    };
  }

  /** Writes what is queued (within the call timeout), then closes the connection. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.kick();
    this.abort.abort();
    await this.loop?.catch(() => undefined);
    await this.writer.close().catch(() => undefined);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.wake.resolve;
    this.wake.resolve = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (true) {
      if (this.queue.length === 0) {
        if (this.stopped) return;
        await new Promise<void>((r) => {
          this.wake.resolve = r;
        });
        continue;
      }
      if (!this.connected) {
        if (this.stopped && this.abort.signal.aborted && attempt > 0) return;
        try {
          await withTimeout(this.writer.connect(), this.limits.callTimeoutMs, () => new Error('connect timed out'));
          this.connected = true;
        } catch (e) {
          attempt++;
          this.down(e as Error);
          if (this.stopped) return;
          await delay(backoff(attempt, this.limits.reconnectBaseMs, this.limits.reconnectMaxMs), this.abort.signal);
          continue;
        }
      }
      // a batch waits for its size or its time, unless the sink is closing
      if (this.queue.length < this.limits.maxBatch && !this.stopped && !this.outage) {
        if (!this.timer) this.timer = setTimeout(() => this.kick(), this.limits.flushIntervalMs);
        await new Promise<void>((r) => {
          this.wake.resolve = r;
        });
      }
      const batch = this.queue.slice(0, this.limits.maxBatch);
      try {
        await withTimeout(this.writer.write(batch), this.limits.callTimeoutMs, () => new Error('write timed out'));
        // points dropped meanwhile came off the front: remove what was written by identity
        let n = 0;
        while (n < batch.length && this.queue[0] === batch[n]) {
          this.queue.shift();
          n++;
        }
        if (n < batch.length) {
          const written = new Set(batch);
          for (let i = this.queue.length - 1; i >= 0; i--) if (written.has(this.queue[i]!)) this.queue.splice(i, 1);
        }
        this.written += batch.length;
        this.metrics.points.inc({ sink: this.label, result: 'written' }, batch.length);
        this.metrics.buffered.set({ sink: this.label }, this.queue.length);
        attempt = 0;
        this.up();
      } catch (e) {
        this.connected = false;
        await this.writer.close().catch(() => undefined);
        attempt++;
        this.down(e as Error);
        if (this.stopped) return;
        await delay(backoff(attempt, this.limits.reconnectBaseMs, this.limits.reconnectMaxMs), this.abort.signal);
      }
    }
  }

  /** Logged once per outage (and once more if it turns out to be refused credentials), not per point or retry. */
  private down(e: Error): void {
    this.metrics.up.set({ sink: this.label }, 0);
    const auth = e instanceof SinkAuthError;
    const error = auth ? `credentials refused: ${e.message}` : e.message;
    const wasAuth = this.outage?.error.startsWith('credentials refused') ?? false;
    const first = !this.outage;
    this.outage = { since: this.outage?.since ?? Date.now(), dropped: this.outage?.dropped ?? 0, error };
    if (!first && auth === wasAuth) {
      this.log.debug({ sink: this.label, err: error }, 'sink still down');
      return;
    }
    this.tell('failing', error);
    const devices = [...this.users];
    if (auth)
      this.log.error(
        { sink: this.label, devices, err: error },
        `sink ${this.label} refused the credentials; readings of ${devices.join(', ')} are buffered, not written (check the password/token)`,
      );
    else
      this.log.warn(
        { sink: this.label, devices, err: error, buffering: this.limits.maxBuffered },
        `sink ${this.label} unreachable; buffering up to ${this.limits.maxBuffered} points (oldest dropped beyond), reconnecting with backoff`,
      );
  }

  private up(): void {
    this.metrics.up.set({ sink: this.label }, 1);
    if (!this.outage) return;
    const { since, dropped } = this.outage;
    this.outage = undefined;
    this.tell('ok');
    this.log.info(
      { sink: this.label, downMs: Date.now() - since, dropped },
      `sink ${this.label} writing again after ${Date.now() - since} ms; ${dropped} points dropped meanwhile`,
    );
  }
}
