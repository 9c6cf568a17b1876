// Issue 9 §4: a full disk is an error, not a crash loop. With the edge data dir on a 2 MB tmpfs, SQLITE_FULL
// from the checkpoint timer killed the edge, pending requests got no reply, and every restart exited 1
// ("cannot open broker persistence"). Now writes get 500 naming the cause, reads answer, the state shows in
// logs and metrics, it recovers by itself when space returns, it starts degraded on a full disk, and
// nothing stored is lost. Mounting a tmpfs needs root (as in CI).

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudTopics, type Device, deviceTopic } from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker, startBroker } from '@edgetwin/eventbus';
import { collectMessages, type MessageCollector, waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startCloudLinkEdge } from '../src/cloud-link/index.js';
import { type DeviceTwin, openDeviceTwin } from '../src/index.js';
import { device, model } from './cloud-link-support.js';

const ROOT = process.getuid?.() === 0;
const DEV = 'default/sensor';
const NODE = 'edge-full';

let dir = '';
let broker: EmbeddedBroker | undefined;
let bus: BusClient | undefined;
let app: BusClient | undefined;
let twin: DeviceTwin | undefined;
const collectors: MessageCollector[] = [];

function onThisNode(d: Device): Device {
  return { ...d, spec: { ...d.spec, nodeName: '' } };
}

/** Writes a file until the tmpfs has no space left; returns its path (delete it to free the space). */
function fillDisk(): string {
  const path = join(dir, `filler-${Date.now()}`);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // and the last few bytes, so not even a page is left
  const fd2 = openSync(`${path}-tail`, 'w');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512, 1));
  } catch {
    // ENOSPC
  } finally {
    closeSync(fd2);
  }
  return path;
}

function freeDisk(filler: string): void {
  rmSync(filler, { force: true });
  rmSync(`${filler}-tail`, { force: true });
}

async function startEdge(): Promise<void> {
  broker = await startBroker({ port: 0, persistenceDir: join(dir, 'broker') });
  bus = await connectBus({ url: broker.url, clientId: 'twin' });
  twin = await openDeviceTwin({ dbPath: join(dir, 'twin.db'), node: NODE, bus });
  app = await connectBus({ url: broker.url, clientId: 'app' });
  collectors.length = 0;
}

async function stopEdge(): Promise<void> {
  for (const c of collectors) await c.stop();
  await app?.close();
  await twin?.close();
  await bus?.close();
  await broker?.close();
  app = twin = bus = broker = undefined;
}

async function request(suffix: 'twin/update' | 'twin/get', body: unknown): Promise<Record<string, unknown>> {
  const eventId = String((body as { event_id: string }).event_id);
  const replies = await collectMessages(app!, deviceTopic(DEV, `${suffix}/result`));
  collectors.push(replies);
  await app!.publish(deviceTopic(DEV, suffix), JSON.stringify(body));
  const got = await replies.waitFor((m) => (m.json() as { event_id: string }).event_id === eventId, 10_000);
  return got.find((m) => (m.json() as { event_id: string }).event_id === eventId)!.json() as Record<string, unknown>;
}

let n = 0;
const report = (value: string) =>
  request('twin/update', { event_id: `u${++n}`, twin: { temp: { actual: { value } } } });
const note = (value: string) => request('twin/update', { event_id: `u${++n}`, twin: { note: { actual: { value } } } });

async function storageFullMetric(): Promise<number> {
  return (await twin!.metrics.getSingleMetric('edgetwin_twin_storage_full')!.get()).values[0]?.value ?? -1;
}

describe.skipIf(!ROOT)('a full disk (data dir on a 2 MB tmpfs; needs root to mount)', () => {
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
    await startEdge();
    const loaded = await twin!.loadManifests([model('thermo'), onThisNode(device('sensor'))]);
    expect(loaded.errors).toEqual([]);
  });

  afterEach(async () => {
    await stopEdge();
    execFileSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses writes with 500 naming the cause, keeps answering reads, and recovers by itself', async () => {
    expect((await report('21')).code).toBeUndefined();
    expect((await note('kept')).code).toBeUndefined();
    const filler = fillDisk();

    // Writes until the disk refuses one (SQLite may still have room in pages it holds).
    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await note(`v${i}-${'x'.repeat(4000)}`);
      if (res.code) refused = res;
    }
    expect(refused).toMatchObject({ code: 500 });
    expect(refused!.reason).toMatch(/disk holding .* is full .*reads still work, writes resume once space is freed/);
    expect(twin!.storageState()).toBe('full');
    expect(await storageFullMetric()).toBe(1);

    // The checkpoint timer runs while the disk is full without killing anything.
    const store = (twin as unknown as { store: { checkpoint(): void } }).store;
    const ticks = vi.spyOn(store, 'checkpoint');
    await waitUntil(() => ticks.mock.calls.length >= 2, 'two checkpoint ticks on the full disk', 5000);

    // Reads answer with what was stored.
    const got = await request('twin/get', { event_id: 'read-while-full' });
    expect((got.twin as Record<string, { actual: { value: string } }>).temp!.actual.value).toBe('21');
    expect(got.code).toBeUndefined();

    freeDisk(filler);
    await waitUntil(() => twin!.storageState() === 'ok', 'the twin to notice space is back', 5000);
    expect(await storageFullMetric()).toBe(0);
    expect((await report('22')).code).toBeUndefined();
    expect(twin!.getTwin(DEV)!.twins.temp!.actual!.value).toBe('22');
    expect(twin!.integrityCheck()).toBe('ok');
  });

  it('shows the full disk as the node presence on the cloud link, and online again once space returns', async () => {
    const cloud = await startBroker({ port: 0 });
    const watcher = await connectBus({ url: cloud.url, clientId: 'cloud-watcher' });
    const presence = await collectMessages(watcher, cloudTopics.presence(NODE));
    collectors.push(presence);
    const link = startCloudLinkEdge({ twin: twin!, cloudUrl: cloud.url });
    try {
      const last = () => presence.messages.at(-1)?.payload.toString();
      await presence.waitFor((m) => m.payload.toString() === 'online', 10_000);
      const filler = fillDisk();
      for (let i = 0; i < 200 && twin!.storageState() === 'ok'; i++) await note(`v${i}-${'x'.repeat(4000)}`);
      expect(twin!.storageState()).toBe('full');
      await waitUntil(() => last() === 'storage-full', 'presence storage-full on the cloud link', 10_000);
      freeDisk(filler);
      await waitUntil(() => last() === 'online', 'presence online again once space is back', 10_000);
    } finally {
      await link.close();
      await watcher.close();
      await cloud.close();
    }
  });

  it('starts degraded on a full disk instead of refusing, and loses nothing stored', async () => {
    expect((await report('31')).code).toBeUndefined();
    expect((await note('before-restart')).code).toBeUndefined();
    await stopEdge();
    const filler = fillDisk();

    await startEdge(); // the broker's persistence and the twin database open on a full disk
    expect(twin!.storageState()).toBe('full');
    expect(await storageFullMetric()).toBe(1);
    const got = await request('twin/get', { event_id: 'read-after-restart' });
    const twins = got.twin as Record<string, { actual: { value: string } }>;
    expect(twins.temp!.actual.value).toBe('31');
    expect(twins.note!.actual.value).toBe('before-restart');

    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await note(`w${i}-${'y'.repeat(4000)}`);
      if (res.code) refused = res;
    }
    expect(refused).toMatchObject({ code: 500 });

    freeDisk(filler);
    await waitUntil(() => twin!.storageState() === 'ok', 'the twin to notice space is back', 5000);
    expect((await report('32')).code).toBeUndefined();
    await stopEdge();
    await startEdge();
    expect(twin!.getTwin(DEV)!.twins.temp!.actual!.value).toBe('32');
    expect(twin!.integrityCheck()).toBe('ok');
  });
});
