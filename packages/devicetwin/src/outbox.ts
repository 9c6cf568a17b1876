// The durable queue of reports for the cloud (table `outbox`). The twin appends inside its own write
// transactions; the cloud link reads pending entries and acks what the cloud applied.

import { randomBytes } from 'node:crypto';
import type { OutboxEntry, Report } from '@edgetwin/api';
import type { Logger } from 'pino';
import type { Outbox } from './contracts.js';
import type { TwinStore } from './store/twin-store.js';

const EPOCH_KEY = 'outbox_epoch';

export class SqliteOutbox implements Outbox {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly store: TwinStore,
    private readonly log: Logger,
    /** told about acks, so the twin's coalescing index forgets acknowledged entries */
    private readonly onAck: (upTo: number) => void = () => undefined,
  ) {}

  pending(afterSeq: number, limit: number): OutboxEntry[] {
    return this.store.pendingOutbox(afterSeq, limit);
  }

  ack(upTo: number): void {
    this.store.ackOutbox(upTo);
    this.onAck(upTo);
  }

  lastSeq(): number {
    return this.store.lastSeq();
  }

  ackedSeq(): number {
    return this.store.ackedSeq();
  }

  countAfter(afterSeq: number): number {
    return this.store.outboxCountAfter(afterSeq);
  }

  epoch(): string {
    return this.store.getKv(EPOCH_KEY) ?? this.newEpoch();
  }

  newEpoch(): string {
    const epoch = randomBytes(9).toString('base64url');
    this.store.putKv(EPOCH_KEY, epoch);
    return epoch;
  }

  onAppended(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stores the report as given (no coalescing with older entries, unlike the twin's own reports). */
  append(report: Report): OutboxEntry {
    const entry = this.store.appendOutbox(report, Date.now());
    this.notify();
    return entry;
  }

  /** Called by the twin after a transaction that appended entries has committed. */
  notify(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (e) {
        this.log.error({ err: e }, 'outbox listener threw');
      }
    }
  }
}
