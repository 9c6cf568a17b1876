// The redis sink (issue 17), KubeEdge's layout: one sorted set per device, ZADD <key> <timestamp ms>
// <DataModel JSON with Go field names>. KubeEdge keys the set by device name alone, so devices of the same
// name in two namespaces collide: edgetwin keeps the bare name in namespace "default" (existing queries keep
// working) and uses "<namespace>/<name>" elsewhere (docs/push.md).

import type { RedisSink } from '@edgetwin/api';
import { createClient } from '@redis/client';
import { type SecretSource, SinkAuthError, type SinkPoint, type SinkWriter } from './batching-sink.js';

export function redisKey(namespace: string, name: string): string {
  return namespace === 'default' ? name : `${namespace}/${name}`;
}

/** The member KubeEdge writes: its DataModel with Go field names. */
export function redisMember(p: SinkPoint): string {
  return JSON.stringify({
    DeviceName: p.name,
    PropertyName: p.property,
    Namespace: p.namespace,
    Value: p.value,
    Type: p.type,
    TimeStamp: p.timestamp,
  });
}

export function redisWriter(cfg: RedisSink, password: SecretSource, connectTimeoutMs: number): SinkWriter {
  const [host, port] = splitAddr(cfg.addr, 6379);
  const open = (password: string | undefined) =>
    createClient({
      socket: { host, port, connectTimeout: connectTimeoutMs, reconnectStrategy: false },
      ...(password !== undefined ? { password } : {}),
      database: cfg.db,
      // the sink buffers and reconnects itself (with the framework's backoff)
      disableOfflineQueue: true,
    });
  let client: ReturnType<typeof open> | undefined;
  return {
    async connect() {
      const c = open(password());
      c.on('error', () => undefined); // surfaced by the failing command; the sink logs once per outage
      client = c;
      try {
        await c.connect();
      } catch (e) {
        throw classify(e as Error);
      }
    },
    async write(points) {
      const c = client;
      if (!c?.isReady) throw new Error('redis connection lost');
      const byKey = new Map<string, Array<{ score: number; value: string }>>();
      for (const p of points) {
        const key = redisKey(p.namespace, p.name);
        const list = byKey.get(key) ?? [];
        list.push({ score: p.timestamp, value: redisMember(p) });
        byKey.set(key, list);
      }
      try {
        await Promise.all([...byKey].map(([key, members]) => c.zAdd(key, members)));
      } catch (e) {
        throw classify(e as Error);
      }
    },
    async close() {
      const c = client;
      client = undefined;
      if (c?.isOpen) c.destroy();
    },
  };
}

function classify(e: Error): Error {
  return /WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(e.message)
    ? new SinkAuthError(e.message)
    : e;
}

export function splitAddr(addr: string, defaultPort: number): [string, number] {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(addr.replace(/^[a-z]+:\/\//, ''));
  return [m?.[1] ?? addr, m?.[2] ? Number(m[2]) : defaultPort];
}
