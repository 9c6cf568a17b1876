// Applies the report batches edge nodes send, exactly once per entry (docs/cloud-link.md, "Reports";
// issue 9 §2). Per node the cloud keeps a cursor: the epoch the node's seqs count in and the last seq applied
// in it (LinkState). Entries at or below it are skipped, the rest go to the StatusSink, and only after it has
// made them durable is the retained ReportAck published, which lets the edge drop them from its outbox.
//
// No state stops the stream: a batch that cannot be applied yet is never just dropped with silence. A batch
// that arrives before the one it follows waits aside (the broker reorders, see the docs) and the edge is told
// what the cloud holds; a batch of another epoch that starts where the edge has nothing left switches the
// node to that epoch; anything else is refused with the reason in the ack, so the edge resends from there or
// starts a new epoch. Every refusal is counted by reason.

import {
  cloudTopics,
  decodeReportBatch,
  encodeReportAck,
  type OutboxEntry,
  parseCloudTopic,
  type ReportAck,
  type ReportBatch,
  type ReportRefusal,
} from '@edgetwin/api';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { Logger } from 'pino';
import type { NodeReportStream, StatusSink } from '../contracts.js';
import type { CloudLinkMetrics } from './link-metrics.js';
import type { LinkState, ReportCursor } from './link-state.js';

/** Batches kept per node while they wait for an earlier one (a reorder window, not a store). */
const MAX_HELD = 64;

type RefusalReason = ReportRefusal | 'malformed' | 'status' | 'gap-overflow';

/**
 * A batch follows the cursor when nothing between the cursor and the batch is missing: it starts at or below
 * what is applied, or at or below what the edge itself says it no longer has (its ackedSeq, e.g. after the
 * cloud lost its state).
 */
function follows(batch: ReportBatch, applied: number): boolean {
  const after = batch.after ?? 0;
  return after <= applied || after <= (batch.ackedSeq ?? 0);
}

export class ReportConsumer {
  /** batches received per node and not yet handled, in arrival order */
  private readonly queues = new Map<string, Buffer[]>();
  /** batches of a node that arrived before the batch they follow, waiting for it (at most MAX_HELD) */
  private readonly held = new Map<string, ReportBatch[]>();
  private readonly seenHeld = new WeakSet<ReportBatch>();
  /** the drain loop of a node, while one runs */
  private readonly draining = new Map<string, Promise<void>>();
  private readonly streams = new Map<string, NodeReportStream>();
  /**
   * Per node, the last seq merged into the status sink, ahead of what is durable while writes are pending
   * (what duplicates are checked against), with its epoch. What is durable is in LinkState.
   */
  private readonly merged = new Map<string, { epoch: string; applied: number }>();
  /** per node, the tail of its durable -> cursor -> ack chain (in seq order) */
  private readonly acking = new Map<string, Promise<void>>();
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

  /** What is known of a node's report stream (undefined: no batch from it since the controller started). */
  stream(node: string): NodeReportStream | undefined {
    const s = this.streams.get(node);
    return s && { ...s, refused: { ...s.refused } };
  }

  /** Takes no more batches (they stay unacknowledged: the edge sends them again) and waits for the current ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves when every batch received so far has been handled. */
  async idle(): Promise<void> {
    while (this.draining.size > 0 || this.acking.size > 0)
      await Promise.all([...this.draining.values(), ...this.acking.values()]);
  }

  /**
   * Batches of one node are handled in arrival order. Those that arrived while a status write was in
   * progress are handled together, as one applyReports call: one `twin set` makes several reports a few
   * milliseconds apart (observed desired, write pending/written/verified, the reported value), and each
   * separate call would spend one of the device's status writes.
   *
   * Merging and acknowledging are two steps (issue 15, target 5): a batch is merged into the status sink as
   * soon as the one before it is merged, and acknowledged, in seq order, once it is durable. Waiting for
   * durability before merging the next batch made the answer to a `twin set` wait behind any device of the
   * batch before it that was waiting for its status write budget (up to the status interval or longer).
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
    const stream = this.streamOf(node);
    let candidates = this.held.get(node) ?? [];
    this.held.delete(node);
    let decodedAny = false;
    for (const payload of payloads) {
      const decoded = decodeReportBatch(payload);
      if (!decoded.ok) {
        this.log.error({ node, error: decoded.error }, 'cloud link: dropped a report batch');
        this.refuse(node, 'malformed');
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
    // a malformed batch alone is not answered; anything else is, with what the cloud holds
    if (!decodedAny && candidates.length === 0) return;

    let cursor = this.cursorOf(node);
    /** the refusal to tell the edge (of its latest pass) */
    let answer: ReportAck['refused'];
    const tell = (reason: ReportRefusal, batch: ReportBatch) => {
      if (batch.pass !== undefined && (!answer || batch.pass >= answer.pass)) answer = { reason, pass: batch.pass };
    };
    /** what the acknowledgement of this round waits for, in order: durable, then its cursor is stored */
    const steps: { durable: Promise<void>; epoch: string; upTo: number }[] = [];
    for (;;) {
      const same: ReportBatch[] = [];
      const other: ReportBatch[] = [];
      for (const b of candidates) ((b.epoch ?? '') === cursor.epoch ? same : other).push(b);
      const { fresh, upTo, rest } = this.gather(same, cursor.applied);
      if (fresh.length > 0) {
        let durable: Promise<void>;
        try {
          ({ durable } = await this.stage(node, fresh));
        } catch (err) {
          // not acknowledged: the edge keeps the entries and sends them again (at the latest after its ack
          // timeout); what was waiting aside stays there
          this.log.error(
            { err, node, from: fresh[0]!.seq, count: fresh.length },
            'cloud link: status sink refused reports',
          );
          this.refuse(node, 'status');
          this.keep(node, [...same, ...other], cursor.applied, stream);
          return;
        }
        steps.push({ durable, epoch: cursor.epoch, upTo });
        this.merged.set(node, { epoch: cursor.epoch, applied: upTo });
        cursor = { ...cursor, applied: upTo };
        this.applied += fresh.length;
        this.metrics?.reportsApplied.inc(fresh.length);
      }
      // batches of another epoch, in arrival order: the first one that can start the new epoch switches the node
      let switched = false;
      const waiting: ReportBatch[] = [];
      for (const b of other) {
        const epoch = b.epoch ?? '';
        if (switched) waiting.push(b);
        else if (cursor.retired.includes(epoch)) {
          this.refuse(node, 'retired-epoch', { epoch, current: cursor.epoch });
          tell('retired-epoch', b);
        } else if ((b.after ?? 0) <= (b.ackedSeq ?? 0)) {
          // a node's first report is no news; a node that had a history and starts another one is
          const first = cursor.epoch === '' && cursor.applied === 0;
          this.log[first ? 'info' : 'warn'](
            { node, from: cursor.epoch, fromApplied: cursor.applied, to: epoch, after: b.after },
            first
              ? 'cloud link: first reports of the node'
              : 'cloud link: the node reports in a new epoch (data dir wiped, restored or replaced); its seqs start over',
          );
          this.metrics?.epochSwitches.inc();
          // the old epoch's pending writes are stored (or given up) before the cursor moves to the new one
          await this.settle(node, steps.splice(0));
          cursor = this.state.switchEpoch(node, epoch, b.after ?? 0);
          this.merged.delete(node);
          waiting.push(b);
          switched = true;
        } else {
          // the batch continues an epoch the cloud has not seen start: the edge must resend from its ack
          this.refuse(node, 'epoch', { epoch, current: cursor.epoch, after: b.after, ackedSeq: b.ackedSeq });
          tell('epoch', b);
        }
      }
      if (switched) {
        // what waited in the old epoch is of no use any more
        candidates = waiting;
        continue;
      }
      for (const b of rest) tell('gap', b);
      this.keep(node, rest, cursor.applied, stream);
      break;
    }
    stream.epoch = cursor.epoch;
    const last = candidates.at(-1);
    if (last?.pending !== undefined) stream.queued = last.pending;
    // acknowledged once durable, after every earlier round of this node; the next batch does not wait for it
    const epoch = cursor.epoch;
    const prev = this.acking.get(node) ?? Promise.resolve();
    const tail = prev.then(async () => {
      if (!(await this.settle(node, steps))) return;
      await this.ack(node, {
        upTo: this.state.cursor(node).applied,
        epoch,
        timestamp: Date.now(),
        ...(answer ? { refused: answer } : {}),
      });
    });
    this.acking.set(node, tail);
    void tail.finally(() => {
      if (this.acking.get(node) === tail) this.acking.delete(node);
    });
  }

  /** The node's cursor, with what is merged but not yet durable counted as applied (duplicates are skipped). */
  private cursorOf(node: string): ReportCursor {
    const stored = this.state.cursor(node);
    const merged = this.merged.get(node);
    if (merged && merged.epoch === stored.epoch && merged.applied > stored.applied)
      return { ...stored, applied: merged.applied };
    return stored;
  }

  /** Merges through the sink's two-step API when it has one; otherwise applies and waits (durable at once). */
  private async stage(node: string, entries: OutboxEntry[]): Promise<{ durable: Promise<void> }> {
    if (this.status.stageReports) return this.status.stageReports(node, entries);
    await this.status.applyReports(node, entries);
    return { durable: Promise.resolve() };
  }

  /**
   * Waits for each step to be durable and stores its cursor, in order. False if one failed (the sink stopped):
   * nothing after it is stored or acknowledged, and the merged cursor is forgotten, so what the edge sends
   * again is applied again.
   */
  private async settle(
    node: string,
    steps: { durable: Promise<void>; epoch: string; upTo: number }[],
  ): Promise<boolean> {
    const stream = this.streamOf(node);
    for (const step of steps) {
      try {
        await step.durable;
      } catch (err) {
        this.log.error({ err, node, upTo: step.upTo }, 'cloud link: status sink refused reports');
        this.refuse(node, 'status');
        this.merged.delete(node);
        return false;
      }
      if (this.state.cursor(node).epoch !== step.epoch) continue;
      this.state.markApplied(node, step.upTo);
      stream.appliedSeq = step.upTo;
      stream.lastAppliedAt = new Date().toISOString();
    }
    this.status.setNodeReports?.(node, this.stream(node)!);
    return true;
  }

  /**
   * Takes the entries of the batches that follow what is applied, in whatever order they follow (not arrival
   * order: the broker may deliver a later batch first). Returns them, the seq they reach, and the batches
   * that do not follow yet.
   */
  private gather(batches: ReportBatch[], applied: number): { fresh: OutboxEntry[]; upTo: number; rest: ReportBatch[] } {
    let cursor = applied;
    const fresh: OutboxEntry[] = [];
    let waiting = batches;
    for (let progress = true; progress; ) {
      progress = false;
      const rest: ReportBatch[] = [];
      for (const batch of waiting) {
        if (!follows(batch, cursor)) {
          rest.push(batch);
          continue;
        }
        const news = batch.entries.filter((e) => e.seq > cursor);
        const dups = batch.entries.length - news.length;
        this.duplicates += dups;
        this.metrics?.reportsDuplicate.inc(dups);
        if (news.length > 0) {
          fresh.push(...news);
          cursor = news[news.length - 1]!.seq;
          progress = true;
        }
      }
      waiting = rest;
    }
    return { fresh, upTo: cursor, rest: waiting };
  }

  /** Keeps batches that do not follow yet (bounded: the ones closest to the cursor), counting each once. */
  private keep(node: string, batches: ReportBatch[], applied: number, stream: NodeReportStream): void {
    stream.held = Math.min(batches.length, MAX_HELD);
    if (batches.length === 0) return;
    batches.sort((a, b) => (a.after ?? 0) - (b.after ?? 0));
    for (const b of batches.slice(MAX_HELD)) this.refuse(node, 'gap-overflow', { after: b.after });
    const kept = batches.slice(0, MAX_HELD);
    for (const b of kept) {
      if (this.seenHeld.has(b)) continue;
      this.seenHeld.add(b);
      this.refuse(node, 'gap', { applied, after: b.after });
    }
    this.held.set(node, kept);
  }

  private refuse(node: string, reason: RefusalReason, ctx: Record<string, unknown> = {}): void {
    this.metrics?.batchesRefused.inc({ reason });
    const stream = this.streamOf(node);
    stream.refused[reason] = (stream.refused[reason] ?? 0) + 1;
    stream.lastRefusal = { reason, at: new Date().toISOString() };
    this.log.warn(
      { node, reason, ...ctx },
      `cloud link: report batch not applied (${reason}); the edge is told what the cloud holds`,
    );
  }

  private streamOf(node: string): NodeReportStream {
    let s = this.streams.get(node);
    if (!s) {
      const c: ReportCursor = this.state.cursor(node);
      s = { epoch: c.epoch, appliedSeq: c.applied, queued: 0, held: 0, refused: {} };
      this.streams.set(node, s);
    }
    return s;
  }

  private async ack(node: string, ack: ReportAck): Promise<void> {
    try {
      await this.client.publish(cloudTopics.acks(node), encodeReportAck(ack), { qos: 1, retain: true });
    } catch (err) {
      this.log.warn(
        { err, node, upTo: ack.upTo },
        'cloud link: could not publish the report ack; the edge will resend',
      );
    }
  }
}
