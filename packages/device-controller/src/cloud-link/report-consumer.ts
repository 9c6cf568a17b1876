// Applies the report batches edge nodes send, exactly once per entry: entries at or below the last seq
// applied for that node (kept in LinkState) are skipped, the rest go to the StatusSink, and only after it
// has made them durable is the retained ReportAck published, which lets the edge drop them from its outbox.

import { type Presence, type ReportAck, cloudTopics, decodeReportBatch, parseCloudTopic } from '@edgetwin/api';
import type { Logger } from 'pino';
import type { StatusSink } from '../contracts.js';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { CloudLinkMetrics } from './link-metrics.js';
import type { LinkState } from './link-state.js';

export class ReportConsumer {
  private readonly chains = new Map<string, Promise<void>>();
  applied = 0;
  duplicates = 0;
  private stopped = false;

  constructor(
    private readonly status: StatusSink,
    private readonly client: LinkClient,
    private readonly state: LinkState,
    private readonly log: Logger,
    private readonly metrics?: CloudLinkMetrics,
  ) {}

  onReports(topic: string, payload: Buffer): void {
    if (this.stopped) return;
    const parsed = parseCloudTopic(topic);
    if (parsed?.kind !== 'reports') return;
    const node = parsed.node;
    // batches of one node are applied one after the other, in arrival order
    const previous = this.chains.get(node) ?? Promise.resolve();
    const next = previous.then(() => this.apply(node, payload));
    this.chains.set(node, next);
    void next.finally(() => {
      if (this.chains.get(node) === next) this.chains.delete(node);
    });
  }

  onPresence(topic: string, payload: Buffer): void {
    const parsed = parseCloudTopic(topic);
    if (parsed?.kind !== 'presence' || payload.length === 0) return;
    const text = payload.toString('utf8');
    if (text !== 'online' && text !== 'offline') {
      this.log.warn(
        { node: parsed.node, payload: text.slice(0, 40) },
        'cloud link: presence is neither online nor offline',
      );
      return;
    }
    this.status.setNodePresence(parsed.node, text as Presence, new Date());
  }

  /** Takes no more batches (they stay unacknowledged: the edge sends them again) and waits for the current ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves when every batch received so far has been handled. */
  async idle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private async apply(node: string, payload: Buffer): Promise<void> {
    if (this.stopped) return;
    const decoded = decodeReportBatch(payload);
    if (!decoded.ok) {
      this.log.error({ node, error: decoded.error }, 'cloud link: dropped a report batch');
      this.metrics?.batchesRefused.inc({ reason: 'malformed' });
      return;
    }
    const batch = decoded.value;
    if (batch.node !== node)
      this.log.warn({ node, claimed: batch.node }, 'cloud link: report batch names another node; the topic wins');
    const applied = this.state.appliedSeq(node);
    const fresh = batch.entries.filter((e) => e.seq > applied);
    this.duplicates += batch.entries.length - fresh.length;
    this.metrics?.reportsDuplicate.inc(batch.entries.length - fresh.length);
    let upTo = applied;
    if (batch.after !== undefined && batch.after > applied && batch.after > (batch.ackedSeq ?? 0)) {
      // entries between what is applied and this batch were sent in a batch that was not applied (the
      // status sink failed, or it was lost): the edge still has them, so wait until it resends in order
      this.log.warn(
        { node, applied, after: batch.after },
        'cloud link: report batch does not follow what is applied; refused until the edge resends',
      );
      this.metrics?.batchesRefused.inc({ reason: 'gap' });
      await this.ack(node, applied);
      return;
    }
    if (fresh.length > 0) {
      const first = fresh[0]!.seq;
      try {
        await this.status.applyReports(node, fresh);
      } catch (err) {
        // not acknowledged: the edge keeps the entries and sends them again
        this.log.error({ err, node, from: first, count: fresh.length }, 'cloud link: status sink refused reports');
        this.metrics?.batchesRefused.inc({ reason: 'status' });
        return;
      }
      upTo = fresh[fresh.length - 1]!.seq;
      this.state.markApplied(node, upTo);
      this.applied += fresh.length;
      this.metrics?.reportsApplied.inc(fresh.length);
    }
    await this.ack(node, upTo);
  }

  private async ack(node: string, upTo: number): Promise<void> {
    const ack: ReportAck = { upTo, timestamp: Date.now() };
    try {
      await this.client.publish(cloudTopics.acks(node), JSON.stringify(ack), { qos: 1, retain: true });
    } catch (err) {
      this.log.warn({ err, node, upTo }, 'cloud link: could not publish the report ack; the edge will resend');
    }
  }
}
