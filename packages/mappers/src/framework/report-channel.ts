// The mapper's side of the report channel to the twin (issue 15, docs/mapper-contract.md "Report channel"):
// every device worker of this mapper adds its readings here, and they leave as one message per flush
// (`flushMs` after the first reading, or at once when the batch is large or a reading answers a command).
// The twin answers only refusals; this channel hands each to the device's worker (issue 9's leftover:
// resend on a transient refusal, report a permanent one). The encoding is @edgetwin/api's mapper-reports.ts.

import {
  decodeMapperReportAnswer,
  encodeMapperReportEntry,
  encodeMapperReports,
  encodeMapperStateEntry,
  type MapperReportAnswer,
  reportAnswerTopic,
  reportsTopic,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';

export interface ReportChannelOptions {
  /** how long the first reading of a batch waits for others (ms); 0 = the next turn of the event loop */
  flushMs: number;
  /** a batch this large (bytes of its entries) leaves at once */
  maxBatchBytes: number;
}

export const DEFAULT_REPORT_CHANNEL: ReportChannelOptions = { flushMs: 5, maxBatchBytes: 64 * 1024 };

/** Batches remembered to know what a whole-batch refusal (a full queue, a store failure) refused. */
const REMEMBERED_BATCHES = 32;

/** What the channel tells a device's worker about its readings. */
export interface ReportListener {
  reportRefused(property: string, code: number, reason: string): void;
  reportAccepted(property: string): void;
  /** the batch carrying the device's state was refused whole (a full queue, a store failure) */
  stateRefused(code: number, reason: string): void;
}

/** What one entry of a sent batch carried: its device and properties, or (names undefined) its state. */
type EntryContents = [device: string, names: readonly string[] | undefined];

export class ReportChannel {
  private entries: string[] = [];
  /** per entry: the device and the properties it carries (for a whole-batch refusal) */
  private contents: EntryContents[] = [];
  private bytes = 0;
  /** when the oldest entry waiting was added: the batch's timestamp (its readings are at most this old) */
  private firstAt = 0;
  /** QoS 1 when some reading in the batch would not be reported again next cycle anyway */
  private qos: 0 | 1 = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private seq = Math.floor(Math.random() * 2 ** 30);
  private readonly sent = new Map<number, EntryContents[]>();
  /** the last batch's publish (stop waits for it: a device's offline is the last thing a mapper says) */
  private lastPublish: Promise<void> = Promise.resolve();
  private readonly topic: string;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** batches published (a metric) */
  batches = 0;

  constructor(
    private readonly bus: BusClient,
    private readonly node: string,
    private readonly protocol: string,
    private readonly listener: (device: string) => ReportListener | undefined,
    private readonly log: Logger,
    private readonly opts: ReportChannelOptions = DEFAULT_REPORT_CHANNEL,
  ) {
    this.topic = reportsTopic(node, protocol);
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribe(reportAnswerTopic(this.node, this.protocol), (_t, payload) =>
      this.onAnswer(payload),
    );
  }

  /** Sends what is waiting and stops listening for answers. */
  async stop(): Promise<void> {
    this.flush();
    await this.lastPublish;
    await this.unsubscribe?.().catch(() => undefined);
  }

  /**
   * One device's readings. `qos1`: some reading would not come again next cycle (a change), so the batch
   * must not be lost on the way; `urgent`: it answers a command (a write's read-back), so it leaves now.
   */
  add(device: string, names: readonly string[], values: readonly string[], qos1: boolean, urgent = false): void {
    this.addEntry(device, names, encodeMapperReportEntry(device, names, values), qos1, urgent);
  }

  /**
   * A device's state (issue 15 target 5: our mappers' state travels here, not on `$hw` state/update).
   * `qos1`: a change, which the next periodic report would not repeat if there is none.
   */
  addState(device: string, state: string, qos1: boolean): void {
    this.push(device, undefined, encodeMapperStateEntry(device, state), qos1, false);
  }

  /** As add, with the entry already encoded (encodeMapperReportEntryOf) for the properties `names`. */
  addEntry(device: string, names: readonly string[], entry: string, qos1: boolean, urgent = false): void {
    this.push(device, names, entry, qos1, urgent);
  }

  private push(
    device: string,
    names: readonly string[] | undefined,
    entry: string,
    qos1: boolean,
    urgent: boolean,
  ): void {
    if (this.entries.length === 0) this.firstAt = Date.now();
    this.entries.push(entry);
    this.contents.push([device, names]);
    this.bytes += entry.length + 1;
    if (qos1) this.qos = 1;
    if (this.bytes >= this.opts.maxBatchBytes) {
      this.flush();
      return;
    }
    if (urgent || this.opts.flushMs <= 0) {
      this.immediate ??= setImmediate(() => this.flush());
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.entries.length === 0) return;
    const seq = this.seq;
    this.seq = (this.seq + 1) % 2 ** 31;
    const payload = encodeMapperReports(seq, this.firstAt, this.entries);
    const qos = this.qos;
    this.sent.set(seq, this.contents);
    if (this.sent.size > REMEMBERED_BATCHES) this.sent.delete(this.sent.keys().next().value as number);
    this.entries = [];
    this.contents = [];
    this.bytes = 0;
    this.qos = 0;
    this.batches++;
    this.lastPublish = this.bus
      .publish(this.topic, payload, { qos })
      .catch((e) => this.log.warn({ err: (e as Error).message }, 'could not publish a report batch'));
  }

  private onAnswer(payload: Buffer): void {
    const d = decodeMapperReportAnswer(payload);
    if (!d.ok) {
      this.log.warn({ err: d.error }, 'report answer from the twin ignored');
      return;
    }
    this.dispatch(d.value);
  }

  private dispatch(a: MapperReportAnswer): void {
    if (a.all) {
      const contents = this.sent.get(a.seq);
      if (!contents) {
        this.log.warn(
          { seq: a.seq, code: a.all.code, reason: a.all.reason },
          'the twin refused a report batch no longer known',
        );
        return;
      }
      for (const [device, names] of contents) {
        const l = this.listener(device);
        if (!l) continue;
        if (!names) l.stateRefused(a.all.code, a.all.reason);
        else for (const n of names) l.reportRefused(n, a.all.code, a.all.reason);
      }
    }
    for (const r of a.refused ?? []) {
      const l = this.listener(r.device);
      if (!l) continue;
      if (r.property) {
        l.reportRefused(r.property, r.code, r.reason);
        continue;
      }
      // the whole device entry (an unknown device): every property it carried
      const names = this.sent.get(a.seq)?.find(([d, n]) => d === r.device && n)?.[1] ?? [];
      for (const n of names) l.reportRefused(n, r.code, r.reason);
    }
    for (const r of a.accepted ?? []) this.listener(r.device)?.reportAccepted(r.property);
  }
}
