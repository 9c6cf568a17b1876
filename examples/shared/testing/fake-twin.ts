// Test support: plays the DeviceTwin's side of KubeEdge's MQTT contract for one device, so an app's
// logic is tested against a real broker without the twin. It answers `twin/get`, applies `twin/update`
// and publishes `twin/update/document` the way the twin does; `known: false` answers 404 as KubeEdge
// does for a device it has not been told about.

import {
  type DeviceId,
  decodeTwinUpdate,
  deviceTopic,
  eventIdOf,
  errorResult,
  type MsgTwin,
  type TwinDocumentMessage,
  type TwinUpdateMessage,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { PropertyState } from '../device-watch.js';

export interface FakeTwin {
  /** every twin/update the fake accepted, in order */
  readonly updates: TwinUpdateMessage[];
  state(): Record<string, PropertyState>;
  /** whether the device exists (false: 404 on get and update) */
  setKnown(known: boolean): void;
  /** the device (mapper) reports a value: actual changes, a document goes out */
  report(values: Record<string, string>): Promise<void>;
  /** the cloud sets a desired value: expected changes, a document goes out */
  desire(values: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

function msgTwin(p: PropertyState | undefined): MsgTwin | null {
  if (!p) return null;
  const t: MsgTwin = {};
  if (p.expected !== undefined) t.expected = { value: p.expected };
  if (p.actual !== undefined) t.actual = { value: p.actual };
  return t;
}

export async function startFakeTwin(
  bus: BusClient,
  id: DeviceId,
  initial: Record<string, PropertyState>,
  opts: {
    known?: boolean;
    /**
     * values the device reports right after a `twin/get` is answered, in the same tick: the real twin does
     * this when a get and a mapper's report share one batch, and the app gets the result and the document
     * in one read of its socket
     */
    reportAfterGet?: Record<string, string>;
  } = {},
): Promise<FakeTwin> {
  let known = opts.known ?? true;
  let reportAfterGet = opts.reportAfterGet;
  const twin: Record<string, PropertyState> = structuredClone(initial);
  const updates: TwinUpdateMessage[] = [];

  const publishDocument = async (before: Record<string, PropertyState>, names: string[]) => {
    const doc: TwinDocumentMessage = { event_id: '', timestamp: Date.now(), twin: {} };
    for (const n of names) doc.twin[n] = { last: msgTwin(before[n]), current: msgTwin(twin[n]) };
    await bus.publish(deviceTopic(id, 'twin/update/document'), JSON.stringify(doc));
  };

  const apply = async (side: 'expected' | 'actual', values: Record<string, string>) => {
    const before = structuredClone(twin);
    for (const [n, v] of Object.entries(values)) twin[n] = { ...twin[n], [side]: v };
    await publishDocument(before, Object.keys(values));
  };

  const unsubs = [
    await bus.subscribe(deviceTopic(id, 'twin/get'), (_t, payload) => {
      const eventId = eventIdOf(payload);
      const body = known
        ? {
            event_id: eventId,
            timestamp: Date.now(),
            twin: Object.fromEntries(Object.entries(twin).map(([n, p]) => [n, msgTwin(p)])),
          }
        : errorResult(eventId, 404, `device ${id} not found`);
      void bus.publish(deviceTopic(id, 'twin/get/result'), JSON.stringify(body));
      if (known && reportAfterGet) {
        const values = reportAfterGet;
        reportAfterGet = undefined; // once: the first get's answer only
        void apply('actual', values);
      }
    }),
    await bus.subscribe(deviceTopic(id, 'twin/update'), (_t, payload) => {
      const d = decodeTwinUpdate(payload);
      if (!d.ok || !known) {
        const reason = d.ok ? `device ${id} not found` : d.error;
        const body = errorResult(eventIdOf(payload), d.ok ? 404 : 400, reason);
        void bus.publish(deviceTopic(id, 'twin/update/result'), JSON.stringify(body));
        return;
      }
      updates.push(d.value);
      const before = structuredClone(twin);
      for (const [n, t] of Object.entries(d.value.twin)) {
        const e = t?.expected?.value;
        const a = t?.actual?.value;
        if (typeof e === 'string') twin[n] = { ...twin[n], expected: e };
        if (typeof a === 'string') twin[n] = { ...twin[n], actual: a };
      }
      void publishDocument(before, Object.keys(d.value.twin));
    }),
  ];

  return {
    updates,
    state: () => twin,
    setKnown: (k) => {
      known = k;
    },
    report: (values) => apply('actual', values),
    desire: (values) => apply('expected', values),
    async stop() {
      await Promise.allSettled(unsubs.map((u) => u()));
    },
  };
}
