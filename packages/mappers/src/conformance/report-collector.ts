// For tests: what a mapper reported for one device, taken from its report batches (issue 15's report
// channel) and shown one message per batch entry in KubeEdge's twin/update shape
// ({"twin":{"prop":{"actual":{"value":"..."}}}}), so assertions read as they did on twin/update; and the
// device's state entries of the same batches in state/update's shape ({"state":"online"}, issue 15 target 5).

import { decodeMapperReports, reportsFilter } from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { collectMapped, type MessageCollector, type ReceivedMessage } from '@edgetwin/eventbus/testing';

export type ReportedTwin = { twin: Record<string, { actual: { value: string } }> };

/** Collects the readings reported for device `id` (ns/name) by any mapper of node `node` (default: any node). */
export function collectReports(client: BusClient, id: string, node = '+'): Promise<MessageCollector> {
  const filter = node === '+' ? 'edgetwin/v1/nodes/+/mappers/+/reports' : reportsFilter(node);
  return collectMapped(client, filter, (topic, payload, retain) => {
    const d = decodeMapperReports(payload);
    if (!d.ok) throw new Error(`bad report batch on ${topic}: ${d.error}`);
    const out: ReceivedMessage[] = [];
    for (const e of d.value.entries) {
      if (e[0] !== id) continue;
      const twin: ReportedTwin['twin'] = {};
      for (let i = 1; i < e.length; i += 2) twin[e[i] as string] = { actual: { value: e[i + 1] as string } };
      const text = JSON.stringify({ event_id: String(d.value.seq), timestamp: d.value.timestamp, twin });
      out.push({ topic, payload: Buffer.from(text), retain, json: () => JSON.parse(text) });
    }
    return out;
  });
}

/** Collects the states reported for device `id` (ns/name) by any mapper, as `{event_id, timestamp, state}`. */
export function collectStates(client: BusClient, id: string): Promise<MessageCollector> {
  return collectMapped(client, 'edgetwin/v1/nodes/+/mappers/+/reports', (topic, payload, retain) => {
    const d = decodeMapperReports(payload);
    if (!d.ok) throw new Error(`bad report batch on ${topic}: ${d.error}`);
    return d.value.states
      .filter((st) => st.device === id)
      .map((st) => {
        const text = JSON.stringify({ event_id: String(d.value.seq), timestamp: d.value.timestamp, state: st.state });
        return { topic, payload: Buffer.from(text), retain, json: () => JSON.parse(text) };
      });
  });
}

/** Resolves with the next state reported for device `id` (subscribed before it resolves). */
export async function armNextState(
  client: BusClient,
  id: string,
  opts: { timeoutMs?: number } = {},
): Promise<{ message: Promise<ReceivedMessage> }> {
  const c = await collectStates(client, id);
  const message = c
    .waitFor(1, opts.timeoutMs ?? 5000)
    .then((all) => all[0] as ReceivedMessage)
    .finally(() => void c.stop().catch(() => undefined));
  message.catch(() => {});
  return { message };
}

/** Resolves with the next report entry of device `id` (subscribed before it resolves, like armNextMessage). */
export async function armNextReport(
  client: BusClient,
  id: string,
  opts: { timeoutMs?: number; predicate?: (m: ReceivedMessage) => boolean } = {},
): Promise<{ message: Promise<ReceivedMessage> }> {
  const c = await collectReports(client, id);
  const pred = opts.predicate ?? (() => true);
  const message = c
    .waitFor(pred, opts.timeoutMs ?? 5000)
    .then((all) => all.find(pred) as ReceivedMessage)
    .finally(() => void c.stop().catch(() => undefined));
  message.catch(() => {});
  return { message };
}
