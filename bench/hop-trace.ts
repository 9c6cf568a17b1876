// Diagnostics for bench/e2e.ts (issue 15 target 5): a CPU profile of a phase, and per-hop timing, on with EDGETWIN_E2E_HOPS=1: every MQTT client in
// the process (cloud link, edge link, twin, mapper, observers) is hooked where mqtt.js publishes and where
// it emits a received message; while a sample is in flight, each publish or delivery whose payload names the
// sample's device and value is stamped with (direction, client id, topic shape). Diagnostic only: it costs
// a payload scan per message while sampling, so the figures of a traced run are not the bench's figures.

import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';

interface Sample {
  name: string;
  value: string;
  t0: number;
  seen: Map<string, number>;
}

const done: Sample[] = [];
let current: Sample | undefined;

function shape(topic: string, name: string): string {
  return topic
    .split(name)
    .join('{dev}')
    .replace(/bench-node/g, '{node}');
}

function stamp(kind: string, clientId: string, topic: string, payload: unknown): void {
  const s = current;
  if (!s) return;
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('latin1') : '';
  if (!text.includes(s.value) || !(text.includes(s.name) || topic.includes(s.name))) return;
  const base = `${kind} ${clientId.replace(/-bench-node-.*$/, '')} ${shape(topic, s.name)}`;
  // the second message of a kind (e.g. the edge's report of the value after its ack of the desired) is its own stage
  const key = s.seen.has(base) ? `${base} #2` : base;
  if (!s.seen.has(key)) s.seen.set(key, performance.now() - s.t0);
}

/** Hooks mqtt.js once for this process. */
export function installHopTrace(): void {
  const proto = mqtt.MqttClient.prototype as unknown as {
    publish: (...a: unknown[]) => unknown;
    emit: (...a: unknown[]) => boolean;
    options: { clientId: string };
  };
  const publish = proto.publish;
  proto.publish = function (this: { options: { clientId: string } }, ...a: unknown[]) {
    stamp('pub', this.options.clientId, a[0] as string, a[1]);
    return publish.apply(this, a);
  };
  const emit = proto.emit;
  proto.emit = function (this: { options: { clientId: string } }, ...a: unknown[]) {
    if (a[0] === 'message') stamp('got', this.options.clientId, a[1] as string, a[2]);
    return emit.apply(this, a);
  };
}

/** Marks a stage outside MQTT (an in-process hook) for the sample in flight. */
export function hopMark(label: string): void {
  const s = current;
  if (!s) return;
  const key = s.seen.has(label) ? `${label} #2` : label;
  if (!s.seen.has(key)) s.seen.set(key, performance.now() - s.t0);
}

export function hopStart(name: string, value: string, t0: number): void {
  current = { name, value, t0, seen: new Map() };
}

export function hopEnd(): void {
  if (current) done.push(current);
  current = undefined;
}

/** Each stamp's arrival after setDesired, p50 / p99 / count, in order of median arrival. */
export function hopReport(): string[] {
  const by = new Map<string, number[]>();
  for (const s of done) for (const [k, t] of s.seen) by.set(k, [...(by.get(k) ?? []), t]);
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)]!;
  return [...by.entries()]
    .map(([k, xs]) => ({ k, xs: xs.sort((a, b) => a - b) }))
    .sort((a, b) => q(a.xs, 0.5) - q(b.xs, 0.5))
    .map(
      ({ k, xs }) => `${q(xs, 0.5).toFixed(2).padStart(7)} ${q(xs, 0.99).toFixed(2).padStart(7)} n=${xs.length} ${k}`,
    );
}

/** Per sample, the gap between consecutive stamps, for the slowest samples: where each one's time went. */
export function hopSlowest(n: number): string[] {
  return [...done]
    .sort((a, b) => Math.max(...b.seen.values()) - Math.max(...a.seen.values()))
    .slice(0, n)
    .map((s) =>
      [...s.seen.entries()]
        .sort((a, b) => a[1] - b[1])
        .map(([k, t]) => `${t.toFixed(1)} ${k}`)
        .join(' | '),
    );
}

/** Starts a V8 CPU profile of this process when `path` is set; the returned stop writes it there. */
export async function startProfile(path: string | undefined): Promise<(() => Promise<void>) | undefined> {
  if (!path) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(path, JSON.stringify(profile));
    session.disconnect();
  };
}
