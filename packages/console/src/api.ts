// How the console talks to the controller (issue 16): the same HTTP API as the CLI, with the session cookie
// the login set (same origin), a guard header on every change, and one EventSource for live updates.
import type { Device, DeviceModel } from '@edgetwin/api/types';
import type { ControllerEvent } from '@edgetwin/device-controller/live/event-log';
import type { NodeInfo } from '@edgetwin/device-controller/http/server';

// the controller's own types, imported as types only: nothing of the controller goes into the bundle
export type { ControllerEvent } from '@edgetwin/device-controller/live/event-log';
export type { NodeInfo } from '@edgetwin/device-controller/http/server';

export interface Point {
  device: string;
  property: string;
  t: number;
  v: number;
}

/** An API failure: the controller's finding lines. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly findings: string[],
  ) {
    super(findings.join('\n'));
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      // the controller accepts a change from a session only with this header (no cross-site form can set it)
      ...(method !== 'GET' ? { 'x-edgetwin-console': '1' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(res.status, [text.slice(0, 200)]);
  }
  if (!res.ok) {
    const f = (parsed as { findings?: string[] }).findings;
    throw new ApiError(res.status, Array.isArray(f) ? f : [`${method} ${path}: ${res.status}`]);
  }
  return parsed as T;
}

export const api = {
  login: (given: { token: string } | { ticket: string }) => call<{ ok: true }>('POST', '/console/login', given),
  logout: () => call<{ ok: true }>('POST', '/console/logout', {}),
  /** 401 when not logged in */
  whoami: () => call<{ ok: boolean; source: string }>('GET', '/devices').then(() => true),
  setDesired: (ns: string, name: string, values: Record<string, string>) =>
    call<{ results: unknown[] }>('POST', `/devices/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/desired`, {
      values,
    }),
  history: (ns: string, name: string, since = '1h') =>
    call<{ series: Array<{ property: string; points: Array<[number, number]> }> }>(
      'GET',
      `/devices/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/history?since=${since}`,
    ),
  events: (kind: string, namespace: string, name: string) =>
    call<{ items: ControllerEvent[] }>(
      'GET',
      `/events?kind=${kind}&namespace=${encodeURIComponent(namespace)}&name=${encodeURIComponent(name)}`,
    ),
};

export interface LiveHandlers {
  devices(items: Device[]): void;
  device(d: Device): void;
  deleted(id: string): void;
  models(items: DeviceModel[]): void;
  nodes(items: NodeInfo[]): void;
  point(p: Point): void;
  event(e: ControllerEvent): void;
  connected(on: boolean): void;
}

/** Follows GET /stream; EventSource reconnects by itself and the stream starts with the whole state again. */
export function follow(h: LiveHandlers): () => void {
  const es = new EventSource('/stream');
  const on = <T>(name: string, fn: (data: T) => void) =>
    es.addEventListener(name, (m) => fn(JSON.parse((m as MessageEvent<string>).data) as T));
  on<{ items: Device[] }>('devices', (d) => h.devices(d.items));
  on<Device>('device', h.device);
  on<{ id: string }>('device-deleted', (d) => h.deleted(d.id));
  on<{ items: DeviceModel[] }>('models', (d) => h.models(d.items));
  on<{ items: NodeInfo[] }>('nodes', (d) => h.nodes(d.items));
  on<Point>('point', h.point);
  on<ControllerEvent>('event', h.event);
  es.onopen = () => h.connected(true);
  es.onerror = () => h.connected(false);
  return () => es.close();
}

export const idOf = (d: { metadata: { namespace?: string; name: string } }) =>
  `${d.metadata.namespace ?? 'default'}/${d.metadata.name}`;

/** 5s, 3m, 2h: an age as the CLI prints it. */
export function age(iso: string | number | undefined, now = Date.now()): string {
  if (iso === undefined) return 'never';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (Number.isNaN(t)) return '?';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
