// Sends the twin's durable outbox to the cloud as ReportBatches (QoS 1, in seq order) and drops entries
// only when the cloud's ReportAck says they are applied. After any reconnect, or when acks stop coming,
// it starts again from the last ack: the cloud skips seqs it has applied, so resending is harmless and
// nothing unacknowledged is ever lost, across reconnects and (the outbox being SQLite) restarts.

import { type OutboxEntry, type ReportBatch, cloudTopics } from '@edgetwin/api';
import type { Logger } from 'pino';
import type { Outbox } from '../contracts.js';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { EdgeLinkMetrics } from './link-metrics.js';

export interface ReportPumpOptions {
  /** entries per batch (default 200) */
  batchSize?: number;
  /** soft limit of a batch's JSON size (default 256 KiB; one entry is always sent) */
  maxBatchBytes?: number;
  /** entries sent but not yet acknowledged before the pump waits (default 2000) */
  maxUnacked?: number;
  /** no ack progress for this long while entries are unacknowledged: send them again (default 10 s) */
  ackTimeoutMs?: number;
  metrics?: EdgeLinkMetrics;
}

export class ReportPump {
  private sentUpTo: number;
  /** increments on every (dis)connect, so a send loop of an old connection stops */
  private epoch = 0;
  private running = false;
  private again = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly batchSize: number;
  private readonly maxBytes: number;
  private readonly maxUnacked: number;
  private readonly ackTimeoutMs: number;
  private readonly unlisten: () => void;
  private readonly metrics: EdgeLinkMetrics | undefined;
  batchesSent = 0;
  readonly ackListeners = new Set<(upTo: number) => void>();

  constructor(
    private readonly outbox: Outbox,
    private readonly client: LinkClient,
    private readonly node: string,
    private readonly log: Logger,
    opts: ReportPumpOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 200;
    this.maxBytes = opts.maxBatchBytes ?? 256 * 1024;
    this.maxUnacked = opts.maxUnacked ?? 2000;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.metrics = opts.metrics;
    this.sentUpTo = outbox.ackedSeq();
    // appends come from inside the twin's work; send on the next turn, coalescing a burst
    this.unlisten = outbox.onAppended(() => this.kick());
  }

  onConnect(): void {
    this.epoch++;
    if (this.sentUpTo > this.outbox.ackedSeq()) this.metrics?.resends.inc();
    this.sentUpTo = this.outbox.ackedSeq();
    this.kick();
  }

  onDisconnect(): void {
    this.epoch++;
    this.clearAckTimer();
  }

  onAck(upTo: number): void {
    const last = this.outbox.lastSeq();
    if (upTo > last) {
      // the cloud applied seqs this outbox never produced: another database for the same node name
      this.log.error(
        { node: this.node, ackUpTo: upTo, lastSeq: last },
        'cloud link: the cloud acknowledges reports this node never sent (was the edge database replaced?); ack ignored',
      );
      return;
    }
    const progress = upTo > this.outbox.ackedSeq();
    if (progress) this.outbox.ack(upTo);
    if (upTo > this.sentUpTo) this.sentUpTo = upTo;
    for (const l of this.ackListeners) l(upTo);
    // Only progress restarts the "no ack progress" timer: an ack repeating what is already acknowledged (the
    // cloud answering a batch it could not apply) must not keep postponing the resend (issue 9 §2).
    if (progress) this.clearAckTimer();
    if (this.sentUpTo > this.outbox.ackedSeq()) {
      if (!this.ackTimer) this.armAckTimer();
    } else this.clearAckTimer();
    this.kick();
  }

  close(): void {
    this.unlisten();
    this.clearAckTimer();
    this.epoch++;
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => {
      this.send()
        .catch((err) => this.log.warn({ err, node: this.node }, 'cloud link: sending reports failed; will retry'))
        .finally(() => {
          this.running = false;
          if (this.again) {
            this.again = false;
            this.kick();
          }
        });
    });
  }

  private async send(): Promise<void> {
    const epoch = this.epoch;
    while (this.client.connected && epoch === this.epoch) {
      if (this.sentUpTo - this.outbox.ackedSeq() >= this.maxUnacked) return;
      const entries = this.take(this.outbox.pending(this.sentUpTo, this.batchSize));
      if (entries.length === 0) return;
      const batch: ReportBatch = { node: this.node, entries, after: this.sentUpTo, ackedSeq: this.outbox.ackedSeq() };
      const upTo = entries[entries.length - 1]!.seq;
      await this.client.publish(cloudTopics.reports(this.node), JSON.stringify(batch), { qos: 1, retain: false });
      if (epoch !== this.epoch) return;
      this.sentUpTo = Math.max(this.sentUpTo, upTo);
      this.batchesSent++;
      this.metrics?.batchesSent.inc();
      if (!this.ackTimer) this.armAckTimer();
    }
  }

  private take(entries: OutboxEntry[]): OutboxEntry[] {
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      bytes += JSON.stringify(entries[i]).length + 1;
      if (bytes > this.maxBytes && i > 0) return entries.slice(0, i);
    }
    return entries;
  }

  private armAckTimer(): void {
    this.clearAckTimer();
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.sentUpTo <= this.outbox.ackedSeq()) return;
      this.log.warn(
        { node: this.node, ackedSeq: this.outbox.ackedSeq(), sentUpTo: this.sentUpTo },
        'cloud link: no report ack in time; sending again from the last ack',
      );
      this.sentUpTo = this.outbox.ackedSeq();
      this.metrics?.resends.inc();
      this.kick();
    }, this.ackTimeoutMs);
    this.ackTimer.unref();
  }

  private clearAckTimer(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}
