// Shared steps of the sink tests (issue 17): a logger whose lines the test reads, and a database restarted
// in the middle of a device's stream, waited on by the sink's own counts (never by time).

import { Writable } from 'node:stream';
import type { ResolvedDevice } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import type { DbServer } from './db-servers.js';
import type { Rig } from './runtime-helpers.js';

/** A pino logger at info whose JSON lines land in `logs`. */
export function capturingLogger(logs: Array<Record<string, unknown>>) {
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  return pino({ level: 'info' }, stream);
}

export interface SinkCounts {
  written: number;
  buffered: number;
  dropped: number;
}

/**
 * Waits until the newest reading of each of `d`'s properties that push somewhere was taken after `t`. From
 * then on every point a sink is handed was taken after `t`: a report hands a sink the property's newest
 * reading, once. (Counting points handed over after `t` is not enough: the first one per property may have
 * been read just before `t`.)
 */
export async function readingsTakenAfter(
  w: { latestReading(property: string): { timestamp: number } | undefined },
  d: ResolvedDevice,
  t: number,
): Promise<void> {
  const pushing = d.properties.filter((p) => p.pushMethod).map((p) => p.name);
  await waitUntil(
    () => pushing.every((p) => (w.latestReading(p)?.timestamp ?? 0) > t),
    `a reading of each of ${pushing.join(', ')} taken after ${new Date(t).toISOString()}`,
    10_000,
  );
}

/**
 * Serves `d` until `property`'s `kind` sink has written `first` points, stops `server` until 15 readings
 * taken after the stop are buffered, starts it
 * again, removes the device and waits for the backlog to be written. Returns when the server went down and
 * the sink's counts.
 */
export async function streamAcrossRestart(
  rig: Rig,
  d: ResolvedDevice,
  property: string,
  kind: string,
  server: DbServer,
  first: number,
): Promise<{ down: number; status: () => SinkCounts }> {
  await rig.publish(d);
  await waitUntil(() => rig.mapper.runtime.worker(d.id) !== undefined, 'device served');
  const w = rig.mapper.runtime.worker(d.id)!;
  const status = () => w.sinkStatus(property, kind) as unknown as SinkCounts;
  await waitUntil(() => (w.sinkStatus(property, kind)?.written as number) >= first, 'first points written', 10_000);
  await server.stop();
  const down = Date.now();
  await readingsTakenAfter(w, d, down);
  const atDown = status().buffered;
  await waitUntil(() => status().buffered >= atDown + 15, `a backlog while ${kind} is down`, 10_000);
  await server.start();
  await rig.remove(d.id);
  await waitUntil(() => status().buffered === 0, 'backlog written', 20_000);
  return { down, status };
}
