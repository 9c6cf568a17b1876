// What an edge app needs of KubeEdge's twin contract, and nothing more: follow one device's twin through
// `twin/update/document` and `twin/get/result`, ask for a full snapshot, and set desired values with
// `twin/update`. Only `$hw/events/...` topics are used, so the same app runs against KubeEdge's edgecore.

import { randomUUID } from 'node:crypto';
import {
  type DeviceId,
  type ErrorResult,
  type MsgTwin,
  type TwinDocumentMessage,
  type TwinUpdateMessage,
  deviceTopic,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';

/** One property as the app sees it: the desired (`expected`) and reported (`actual`) values. */
export interface PropertyState {
  expected?: string;
  actual?: string;
}
export type TwinSnapshot = Record<string, PropertyState>;

export interface DeviceWatch {
  readonly id: DeviceId;
  /** the latest known state; empty until a document or get result arrived */
  snapshot(): TwinSnapshot;
  /**
   * publish `twin/get` and resolve once the matching `twin/get/result` replaced the snapshot. It resolves
   * with nothing on purpose: a document may arrive in the same read of the socket and be applied before
   * the caller resumes, so the state to use is `snapshot()` then, never the result's older copy.
   */
  refresh(timeoutMs?: number): Promise<void>;
  /** publish a `twin/update` setting `expected` (desired) of each given property */
  setExpected(values: Record<string, string>): Promise<void>;
  /** publish a `twin/update` setting `actual` (reported) of each given property */
  report(values: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceWatchOptions {
  /** called after every document or get result that changed the snapshot, with the changed property names */
  onChange?: (snapshot: TwinSnapshot, changed: string[]) => void;
  logger?: Logger;
}

/** A `twin/get` or `twin/update` the twin refused; carries the code and reason of the error result. */
export class TwinRequestError extends Error {
  constructor(
    readonly device: DeviceId,
    readonly code: number,
    readonly reason: string,
  ) {
    super(`device ${device}: twin refused the request (${code}): ${reason}`);
    this.name = 'TwinRequestError';
  }
}

function textOf(side: MsgTwin['expected']): string | undefined {
  return side?.value ?? undefined;
}

function parseJson(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isError(msg: Record<string, unknown>): msg is Record<string, unknown> & ErrorResult {
  return typeof msg.code === 'number' && typeof msg.reason === 'string';
}

export async function watchDevice(bus: BusClient, id: DeviceId, opts: DeviceWatchOptions = {}): Promise<DeviceWatch> {
  const log = opts.logger;
  let state: TwinSnapshot = {};
  const pendingGets = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();

  const changed = (names: string[]) => {
    if (names.length > 0) opts.onChange?.(state, names);
  };

  const onDocument = (_topic: string, payload: Buffer) => {
    const msg = parseJson(payload) as Partial<TwinDocumentMessage> | undefined;
    if (!msg || typeof msg.twin !== 'object' || msg.twin === null) {
      log?.warn({ device: id }, 'ignoring a twin document that is not {"twin":{...}}');
      return;
    }
    const names: string[] = [];
    const next: TwinSnapshot = { ...state };
    for (const [name, entry] of Object.entries(msg.twin)) {
      const current = entry?.current;
      if (current === null || current === undefined) {
        if (name in next) {
          delete next[name];
          names.push(name);
        }
        continue;
      }
      // Merge side by side: a document that carries only the side that changed keeps the other one.
      const before = next[name] ?? {};
      const after: PropertyState = { ...before };
      if (current.expected !== undefined) after.expected = textOf(current.expected);
      if (current.actual !== undefined) after.actual = textOf(current.actual);
      if (after.expected !== before.expected || after.actual !== before.actual) names.push(name);
      next[name] = after;
    }
    state = next;
    changed(names);
  };

  const onGetResult = (_topic: string, payload: Buffer) => {
    const msg = parseJson(payload);
    if (!msg) return;
    const eventId = typeof msg.event_id === 'string' ? msg.event_id : '';
    const waiter = pendingGets.get(eventId);
    if (isError(msg)) {
      if (waiter) {
        pendingGets.delete(eventId);
        waiter.reject(new TwinRequestError(id, msg.code, msg.reason));
      }
      return;
    }
    const twin = msg.twin as Record<string, MsgTwin> | undefined;
    if (!twin || typeof twin !== 'object') return;
    // Any get result is a full snapshot, whoever asked for it.
    const next: TwinSnapshot = {};
    for (const [name, t] of Object.entries(twin)) {
      if (!t) continue;
      const p: PropertyState = {};
      const e = textOf(t.expected);
      const a = textOf(t.actual);
      if (e !== undefined) p.expected = e;
      if (a !== undefined) p.actual = a;
      next[name] = p;
    }
    const names = [...new Set([...Object.keys(state), ...Object.keys(next)])].filter(
      (n) => state[n]?.expected !== next[n]?.expected || state[n]?.actual !== next[n]?.actual,
    );
    state = next;
    changed(names);
    if (waiter) {
      pendingGets.delete(eventId);
      waiter.resolve();
    }
  };

  const onUpdateResult = (_topic: string, payload: Buffer) => {
    const msg = parseJson(payload);
    if (msg && isError(msg))
      log?.warn({ device: id, code: msg.code, reason: msg.reason, eventId: msg.event_id }, 'twin refused an update');
  };

  const unsubs = [
    await bus.subscribe(deviceTopic(id, 'twin/update/document'), onDocument),
    await bus.subscribe(deviceTopic(id, 'twin/get/result'), onGetResult),
    await bus.subscribe(deviceTopic(id, 'twin/update/result'), onUpdateResult),
  ];

  const update = async (side: 'expected' | 'actual', values: Record<string, string>) => {
    const twin: TwinUpdateMessage['twin'] = {};
    for (const [name, value] of Object.entries(values)) twin[name] = { [side]: { value } };
    const msg: TwinUpdateMessage = { event_id: randomUUID(), timestamp: Date.now(), twin };
    await bus.publish(deviceTopic(id, 'twin/update'), JSON.stringify(msg), { qos: 1 });
  };

  return {
    id,
    snapshot: () => state,
    refresh(timeoutMs = 3000) {
      const eventId = randomUUID();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingGets.delete(eventId);
          reject(new Error(`device ${id}: no twin/get/result within ${timeoutMs} ms (is the twin running?)`));
        }, timeoutMs);
        pendingGets.set(eventId, {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        bus
          .publish(deviceTopic(id, 'twin/get'), JSON.stringify({ event_id: eventId, timestamp: Date.now() }))
          .catch((e: Error) => {
            pendingGets.delete(eventId);
            clearTimeout(timer);
            reject(e);
          });
      });
    },
    setExpected: (values) => update('expected', values),
    report: (values) => update('actual', values),
    async close() {
      for (const [, w] of pendingGets) w.reject(new Error(`device ${id}: watch closed`));
      pendingGets.clear();
      await Promise.allSettled(unsubs.map((u) => u()));
    },
  };
}
