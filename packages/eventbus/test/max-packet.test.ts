// Issue 9 §3: the embedded broker closes a client whose packet declares more than maxPacketBytes, before
// buffering its body (a CONNECT declaring 200 MB used to grow the broker by 150 MB and stay open).
import net from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PacketSizeGuard } from '../src/packet-guard.js';
import { nextMessage } from '../src/testing.js';
import { broker, client, onCleanup, useCleanup } from './helpers.js';

useCleanup();

/** MQTT remaining-length varint (MQTT 3.1.1 §2.2.3). */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    onCleanup(async () => s.destroy());
  });
}

/** Resolves when the peer closes the socket; rejects after timeoutMs. */
function closedByPeer(s: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error(`broker kept the connection open for ${timeoutMs} ms`)), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => undefined);
  });
}

async function counterValue(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values[0]?.value ?? 0;
}

describe('maximum packet size', () => {
  it('closes a raw connection whose CONNECT declares 200 MB, without buffering it', async () => {
    const registry = new Registry();
    const b = await broker({ registry });
    const s = await rawSocket(b.port);
    const closed = closedByPeer(s, 3000);
    // A CONNECT header declaring 200 MB, then 1 MiB of its body: the broker must not wait for the rest.
    s.write(Buffer.from([0x10, ...varint(200 * 1024 * 1024)]));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 16 && !s.destroyed; i++) s.write(chunk);
    await closed;
    expect(await counterValue(registry, 'edgetwin_eventbus_broker_oversized_packets_total')).toBe(1);

    // Everyone else keeps working.
    const c = await client(b.url);
    await c.publish('after/oversized', 'still here', { retain: true });
    expect((await nextMessage(c, 'after/oversized')).payload.toString()).toBe('still here');
  });

  it('lets a client publish up to the limit and disconnects one that publishes past it', async () => {
    const registry = new Registry();
    const b = await broker({ registry, maxPacketBytes: 64 * 1024 });
    const c = await client(b.url, { clientId: 'big-publisher', backoffMs: 10_000, maxBackoffMs: 10_000 });
    const fits = Buffer.alloc(60 * 1024, 0x61);
    await c.publish('sizes/fits', fits, { retain: true });
    const watcher = await client(b.url);
    expect((await nextMessage(watcher, 'sizes/fits')).payload.length).toBe(fits.length);

    const disconnected = new Promise<void>((r) => {
      const off = c.onDisconnect(() => {
        off();
        r();
      });
    });
    c.publish('sizes/too-big', Buffer.alloc(70 * 1024, 0x62)).catch(() => undefined);
    await disconnected;
    expect(await counterValue(registry, 'edgetwin_eventbus_broker_oversized_packets_total')).toBe(1);
  });

  it('refuses a limit that is not a positive byte count', async () => {
    await expect(broker({ maxPacketBytes: 0 })).rejects.toThrow(/maximum packet size/);
  });
});

describe('PacketSizeGuard', () => {
  it('follows packet boundaries across chunks', () => {
    const g = new PacketSizeGuard(10);
    // PINGREQ (2 bytes), then a PUBLISH of 10 bytes total split across chunks, then one of 11.
    expect(g.feed(Buffer.from([0xc0, 0x00, 0x30]))).toBeUndefined();
    expect(g.feed(Buffer.from([0x08, 1, 2, 3]))).toBeUndefined();
    expect(g.feed(Buffer.from([4, 5, 6, 7, 8]))).toBeUndefined();
    expect(g.feed(Buffer.from([0x30, 0x09]))).toBe(11);
  });

  it('reads multi-byte remaining lengths split between chunks', () => {
    const g = new PacketSizeGuard(200);
    expect(g.feed(Buffer.from([0x30, 0xc8]))).toBeUndefined(); // first varint byte of 200
    expect(g.feed(Buffer.from([0x01]))).toBe(203);
  });
});
