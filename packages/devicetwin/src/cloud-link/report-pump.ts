// Sends the twin's durable outbox to the cloud as ReportBatches (QoS 1, in seq order) and drops entries
// only when the cloud's ReportAck says they are applied (docs/cloud-link.md, "Reports"; issue 9 §2).
//
// No state of either side may stop the stream, so the pump starts again from an earlier seq whenever it has
// a reason to: after any reconnect, when acks stop making progress for ackTimeoutMs, and at once when the
// cloud answers a batch of the current pass with a refusal (it tells what it holds). Resending is harmless:
// the cloud skips seqs it has applied. An ack the edge never earned (the cloud holds more of this epoch than
// the outbox ever made: the data dir was restored from a backup) starts a new epoch instead of wedging.

import { encodeReportBatch, type OutboxEntry, type ReportAck, type ReportBatch, cloudTopics } from '@edgetwin/api';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { Logger } from 'pino';
import type { Outbox } from '../contracts.js';
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

type ResendReason = 'reconnect' | 'ack-timeout' | 'gap' | 'epoch' | 'retired-epoch' | 'unearned-ack';

export class ReportPump {
  private sentUpTo: number;
  /** increments on every (dis)connect and every resend, so a send loop of an old round stops */
  private round = 0;
  /** ReportBatch.pass: increments on every resend; the cloud echoes it in a refusal, so one refusal rewinds once */
  private pass: number;
  private running = false;
  /** after close() nothing here reads or acks the outbox: the twin's database may close next */
  private closed = false;
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
    // a retained refusal from an earlier run must not match this run's pass: start somewhere random
    this.pass = Math.floor(Math.random() * 2 ** 30);
    // appends come from inside the twin's work; send on the next turn, coalescing a burst
    this.unlisten = outbox.onAppended(() => this.kick());
  }

  onConnect(): void {
    if (this.closed) return;
    this.resend('reconnect', this.outbox.ackedSeq());
  }

  onDisconnect(): void {
    this.round++;
    this.clearAckTimer();
  }

  onAck(ack: ReportAck): void {
    // the link's client still delivers messages while it says goodbye to the broker
    if (this.closed) return;
    const epoch = this.outbox.epoch();
    const refusedNow = ack.refused !== undefined && ack.refused.pass === this.pass;
    if (ack.epoch !== undefined && ack.epoch !== epoch) {
      // the cloud counts another history: nothing here is acknowledged by it. A refusal of this pass says
      // our batches do not start where the cloud can take them (or that our epoch is one it has left).
      if (!refusedNow) return;
      if (ack.refused?.reason === 'retired-epoch') this.startEpoch('retired-epoch', ack);
      else this.resend(ack.refused?.reason ?? 'epoch', this.outbox.ackedSeq());
      return;
    }
    const last = this.outbox.lastSeq();
    if (ack.upTo > last) {
      // the cloud applied seqs of this epoch that this outbox never made: the data dir was restored from a
      // backup (or copied from another node). Waiting would wedge; a new epoch lets the cloud start over.
      this.startEpoch('unearned-ack', ack);
      return;
    }
    const progress = ack.upTo > this.outbox.ackedSeq();
    if (progress) {
      this.outbox.ack(ack.upTo);
      // only progress restarts the "no ack progress" timer: an ack repeating what is acknowledged (the cloud
      // answering a batch it could not apply) must not postpone the resend for ever (issue 9 §2)
      this.clearAckTimer();
    }
    if (ack.upTo > this.sentUpTo) this.sentUpTo = ack.upTo;
    for (const l of this.ackListeners) l(ack.upTo);
    if (refusedNow) {
      this.resend(ack.refused?.reason ?? 'gap', Math.max(this.outbox.ackedSeq(), ack.upTo));
      return;
    }
    if (this.sentUpTo > this.outbox.ackedSeq()) {
      if (!this.ackTimer) this.armAckTimer();
    } else this.clearAckTimer();
    this.kick();
  }

  close(): void {
    this.closed = true;
    this.unlisten();
    this.clearAckTimer();
    this.round++;
  }

  /** Starts sending again from `from` (above it), in a new pass. */
  private resend(reason: ResendReason, from: number): void {
    this.round++;
    this.pass++;
    if (reason !== 'reconnect' || this.sentUpTo > from) this.metrics?.resends.inc({ reason });
    this.sentUpTo = from;
    this.clearAckTimer();
    this.kick();
  }

  private startEpoch(reason: 'unearned-ack' | 'retired-epoch', ack: ReportAck): void {
    const old = this.outbox.epoch();
    const epoch = this.outbox.newEpoch();
    this.metrics?.epochs.inc({ reason });
    this.log.warn(
      {
        node: this.node,
        reason,
        oldEpoch: old,
        epoch,
        cloudEpoch: ack.epoch,
        cloudUpTo: ack.upTo,
        lastSeq: this.outbox.lastSeq(),
      },
      'cloud link: the cloud holds another report history for this node (data dir restored or replaced?); starting a new epoch and sending everything pending again',
    );
    this.resend(reason, this.outbox.ackedSeq());
  }

  private kick(): void {
    if (this.closed) return;
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
    const round = this.round;
    while (!this.closed && this.client.connected && round === this.round) {
      if (this.sentUpTo - this.outbox.ackedSeq() >= this.maxUnacked) return;
      const entries = this.take(this.outbox.pending(this.sentUpTo, this.batchSize));
      if (entries.length === 0) return;
      const upTo = entries[entries.length - 1]!.seq;
      const batch: ReportBatch = {
        node: this.node,
        entries,
        after: this.sentUpTo,
        ackedSeq: this.outbox.ackedSeq(),
        epoch: this.outbox.epoch(),
        pass: this.pass,
        pending: this.outbox.countAfter(upTo),
      };
      await this.client.publish(cloudTopics.reports(this.node), encodeReportBatch(batch), { qos: 1, retain: false });
      // a resend (or reconnect) while this was in flight decides where the next batch starts, not this one
      if (round !== this.round) return;
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
        'cloud link: no report ack progress in time; sending again from the last ack',
      );
      this.resend('ack-timeout', this.outbox.ackedSeq());
    }, this.ackTimeoutMs);
    this.ackTimer.unref();
  }

  private clearAckTimer(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}
