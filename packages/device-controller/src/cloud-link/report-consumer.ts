// Applies the report batches edge nodes send, exactly once per entry: entries at or below the last seq
// applied for that node (kept in LinkState) are skipped, the rest go to the StatusSink, and only after it
// has made them durable is the retained ReportAck published, which lets the edge drop them from its outbox.

import {
  type OutboxEntry,
  type Presence,
  type ReportAck,
  type ReportBatch,
  cloudTopics,
  decodeReportBatch,
  parseCloudTopic,
} from '@edgetwin/api';
import type { Logger } from 'pino';
import type { StatusSink } from '../contracts.js';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { CloudLinkMetrics } from './link-metrics.js';
import type { LinkState } from './link-state.js';

/** Batches kept per node while they wait for an earlier one (a reorder window, not a store). */
const MAX_HELD = 64;

/**
 * A batch follows the cursor when nothing between the cursor and the batch is missing: it starts at or below
 * what is applied, or at or below what the edge itself says it no longer has (its ackedSeq, e.g. after the
 * cloud lost its state).
 */
function follows(batch: ReportBatch, cursor: number): boolean {
  const after = batch.after ?? 0;
  return after <= cursor || after <= (batch.ackedSeq ?? 0);
}

export class ReportConsumer {
  /** batches received per node and not yet handled, in arrival order */
  private readonly queues = new Map<string, Buffer[]>();
  /** batches of a node that arrived before the batch they follow, waiting for it (at most MAX_HELD) */
  private readonly held = new Map<string, ReportBatch[]>();
  private readonly seenHeld = new WeakSet<ReportBatch>();
  /** the drain loop of a node, while one runs */
  private readonly draining = new Map<string, Promise<void>>();
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
    const queue = this.queues.get(node) ?? [];
    queue.push(payload);
    this.queues.set(node, queue);
    if (!this.draining.has(node)) {
      const loop = this.drain(node).finally(() => this.draining.delete(node));
      this.draining.set(node, loop);
    }
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
    while (this.draining.size > 0) await Promise.all([...this.draining.values()]);
  }

  /**
   * Batches of one node are handled in arrival order. Those that arrived while a status write was in
   * progress are handled together, as one applyReports call: one `twin set` makes several reports a few
   * milliseconds apart (observed desired, write pending/written/verified, the reported value), and each
   * separate call would spend one of the device's status writes.
   */
  private async drain(node: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(node);
      if (!queue || queue.length === 0 || this.stopped) {
        this.queues.delete(node);
        return;
      }
      this.queues.set(node, []);
      await this.apply(node, queue);
    }
  }

  private async apply(node: string, payloads: Buffer[]): Promise<void> {
    if (this.stopped) return;
    const applied = this.state.appliedSeq(node);
    const candidates = this.held.get(node) ?? [];
    this.held.delete(node);
    let decodedAny = false;
    for (const payload of payloads) {
      const decoded = decodeReportBatch(payload);
      if (!decoded.ok) {
        this.log.error({ node, error: decoded.error }, 'cloud link: dropped a report batch');
        this.metrics?.batchesRefused.inc({ reason: 'malformed' });
        continue;
      }
      decodedAny = true;
      if (decoded.value.node !== node)
        this.log.warn(
          { node, claimed: decoded.value.node },
          'cloud link: report batch names another node; the topic wins',
        );
      candidates.push(decoded.value);
    }
    // `cursor` is what will be applied once the entries gathered so far are: the next batch must follow it.
    // Batches are taken in whatever order they follow, not in arrival order: a broker may deliver a later
    // batch first (issue 9 §2), and that batch waits here, not thrown away, until the one before it comes.
    let cursor = applied;
    const fresh: OutboxEntry[] = [];
    let waiting = candidates;
    for (let progress = true; progress; ) {
      progress = false;
      const rest: ReportBatch[] = [];
      for (const batch of waiting) {
        if (!follows(batch, cursor)) {
          rest.push(batch);
          continue;
        }
        const news = batch.entries.filter((e) => e.seq > cursor);
        this.duplicates += batch.entries.length - news.length;
        this.metrics?.reportsDuplicate.inc(batch.entries.length - news.length);
        if (news.length > 0) {
          fresh.push(...news);
          cursor = news[news.length - 1]!.seq;
          progress = true;
        }
      }
      waiting = rest;
    }
    this.hold(node, waiting, cursor);
    let upTo = applied;
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
      upTo = cursor;
      this.state.markApplied(node, upTo);
      this.applied += fresh.length;
      this.metrics?.reportsApplied.inc(fresh.length);
    }
    // a malformed batch alone is not answered; anything else is, with what is applied now
    if (decodedAny) await this.ack(node, upTo);
  }

  /** Keeps batches that do not follow yet (bounded: the ones closest to the cursor), counting each once. */
  private hold(node: string, batches: ReportBatch[], cursor: number): void {
    if (batches.length === 0) return;
    batches.sort((a, b) => (a.after ?? 0) - (b.after ?? 0));
    for (const b of batches.slice(MAX_HELD)) {
      this.metrics?.batchesRefused.inc({ reason: 'gap-overflow' });
      this.log.warn(
        { node, after: b.after },
        'cloud link: too many report batches waiting for an earlier one; dropped',
      );
    }
    const kept = batches.slice(0, MAX_HELD);
    for (const b of kept) {
      if (this.seenHeld.has(b)) continue;
      this.seenHeld.add(b);
      this.metrics?.batchesRefused.inc({ reason: 'gap' });
      this.log.warn(
        { node, applied: cursor, after: b.after },
        'cloud link: report batch does not follow what is applied; kept until the batch before it arrives',
      );
    }
    this.held.set(node, kept);
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
