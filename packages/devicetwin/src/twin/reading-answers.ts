// What the twin answers a report batch of our mappers (issue 15, issue 9's leftover): nothing when every
// reading was taken; otherwise the refusals, and the properties whose earlier refusal just ended, so the
// mapper can clear the refusal it reported (docs/mapper-contract.md, "Report channel").

import { encodeMapperReportAnswer, type MapperReportRefusal } from '@edgetwin/api';

/** Refused (device, property) pairs remembered to tell the mapper when they are taken again; beyond, not told. */
export const MAX_REMEMBERED_REFUSALS = 10_000;

export class ReadingAnswers {
  readonly refused: MapperReportRefusal[] = [];
  private readonly accepted: Array<{ device: string; property: string }> = [];

  /** `remembered`: refused pairs across batches (`device\0property`), owned by the caller. */
  constructor(
    readonly seq: number,
    private readonly remembered: Set<string>,
  ) {}

  /** Whether taken() can matter (no refusal remembered: the common case costs nothing per reading). */
  get watching(): boolean {
    return this.remembered.size > 0;
  }

  taken(device: string, property: string): void {
    if (this.remembered.delete(`${device}\u0000${property}`)) this.accepted.push({ device, property });
  }

  refuse(device: string, property: string, code: number, reason: string): void {
    this.refused.push({ device, property, code, reason });
    if (this.remembered.size < MAX_REMEMBERED_REFUSALS) this.remembered.add(`${device}\u0000${property}`);
  }

  /** The answer to publish, or undefined when there is nothing to say. */
  payload(): string | undefined {
    if (this.refused.length === 0 && this.accepted.length === 0) return undefined;
    return encodeMapperReportAnswer({ seq: this.seq, refused: this.refused, accepted: this.accepted });
  }
}
