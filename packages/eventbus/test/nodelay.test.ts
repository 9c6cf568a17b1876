// mqtt.js dials without TCP_NODELAY; the client wrapper sets it on every socket it dials (see client.ts).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '../src/testing.js';
import { broker, client, nextEvent, onCleanup, useCleanup } from './helpers.js';

useCleanup();

/** The live sockets of this process dialed to `port`: the client's side of its connection. */
function socketsDialedTo(port: number): net.Socket[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h): h is net.Socket => h instanceof net.Socket && !h.destroyed && h.remotePort === port);
}

/** Node keeps the last setNoDelay() value on the socket under a private symbol; the kernel option cannot be read. */
function noDelayOf(socket: net.Socket): unknown {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  return key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
}

describe('TCP_NODELAY', () => {
  it('is set on the socket of a connected client, and again after a reconnect', async () => {
    const b = await broker();
    const proxy = await startTcpProxy(b.port);
    onCleanup(() => proxy.close());
    const c = await client(proxy.url);

    const first = socketsDialedTo(proxy.port);
    expect(first).toHaveLength(1);
    expect(noDelayOf(first[0]!)).toBe(true);

    const reconnected = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    proxy.cutConnections();
    await reconnected;
    const second = socketsDialedTo(proxy.port);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect(noDelayOf(second[0]!)).toBe(true);
  });
});
