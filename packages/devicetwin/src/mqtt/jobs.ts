// A request taken off the bus, waiting for the next batch. Decoding happens in the batch so that a flood
// costs the bus handler only a push.

import { type DeviceId, deviceTopic, type DeviceInSuffix } from '@edgetwin/api';

export type Job =
  | { kind: 'device'; id: DeviceId; action: DeviceInSuffix; payload: Buffer }
  | { kind: 'membership-get'; payload: Buffer }
  | { kind: 'write-status'; id: DeviceId; payload: Buffer }
  /** a mapper asks for a device's pending delta (answered on the delta topic, not a reply topic) */
  | { kind: 'delta-get'; id: DeviceId; payload: Buffer }
  /** a mapper's refused (or accepted again) reading, reported upstream */
  | { kind: 'report-status'; id: DeviceId; payload: Buffer }
  /** a mapper's push to a sink failing or working again (issue 17), reported upstream */
  | { kind: 'push-status'; id: DeviceId; payload: Buffer }
  /** a report batch of one of our mappers (issue 15): many devices' readings, answered only on a refusal */
  | { kind: 'reports'; protocol: string; payload: Buffer };

/** Where the reply to a job goes, or undefined if it has none (write status and delta/get have no /result). */
export function replyTopic(job: Job, membershipResultTopic: string): string | undefined {
  if (job.kind === 'device') return deviceTopic(job.id, `${job.action}/result` as Parameters<typeof deviceTopic>[1]);
  if (job.kind === 'membership-get') return membershipResultTopic;
  return undefined;
}

/** The fair queue's key of a job: its device, the mapper for a report batch, '' for node-wide requests. */
export function queueKeyOf(job: Job): string {
  if (job.kind === 'membership-get') return '';
  if (job.kind === 'reports') return `mapper:${job.protocol}`;
  return job.id;
}

export function actionOf(job: Job): string {
  return job.kind === 'device' ? job.action : job.kind;
}
