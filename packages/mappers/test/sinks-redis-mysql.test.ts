// The redis and mysql sinks (issue 17) against real servers started here: KubeEdge's layouts (with the
// defects fixed), a database restarted mid-stream loses nothing that fits the buffer, the exact drop count
// beyond it, wrong credentials a clear error naming the device, per-sink secret files.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedProperty } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { createClient } from '@redis/client';
import mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { type DbServer, startMariadb, startRedis } from './db-servers.js';
import { device, prop, type Rig, startRig } from './runtime-helpers.js';
import { capturingLogger, readingsTakenAfter } from './sink-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

const REDIS_PASSWORD = 'redis-secret-1';
const MYSQL_PASSWORD = 'mysql-secret-2';
let redis: DbServer;
let maria: DbServer;
let secrets: string;
let rig: Rig | undefined;
const logs: Array<Record<string, unknown>> = [];

const SINK_LIMITS = {
  maxBuffered: 40,
  maxBatch: 10,
  flushIntervalMs: 100,
  callTimeoutMs: 3000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 200,
};

beforeAll(async () => {
  [redis, maria] = await Promise.all([
    startRedis(REDIS_PASSWORD),
    startMariadb({ database: 'edge', user: 'edge', password: MYSQL_PASSWORD }),
  ]);
  // one mapper, two secrets: per-sink files (KubeEdge's single PASSWORD env var cannot hold both)
  secrets = await mkdtemp(join(tmpdir(), 'edgetwin-secrets-'));
  await writeFile(join(secrets, 'redis'), `${REDIS_PASSWORD}\n`, { mode: 0o600 });
  await writeFile(join(secrets, 'mysql'), MYSQL_PASSWORD, { mode: 0o600 });
  process.env.EDGETWIN_REDIS_PASSWORD_FILE = join(secrets, 'redis');
  process.env.EDGETWIN_MYSQL_PASSWORD_FILE = join(secrets, 'mysql');
  process.env.PASSWORD = 'the-shared-env-var-loses';
}, 120_000);

afterEach(async () => {
  await rig?.close();
  rig = undefined;
  logs.length = 0;
});

afterAll(async () => {
  await Promise.all([redis?.close(), maria?.close()]);
  if (secrets) await rm(secrets, { recursive: true, force: true });
  delete process.env.EDGETWIN_REDIS_PASSWORD_FILE;
  delete process.env.EDGETWIN_MYSQL_PASSWORD_FILE;
  delete process.env.PASSWORD;
});

async function redisClient() {
  const c = createClient({ socket: { host: '127.0.0.1', port: redis.port }, password: REDIS_PASSWORD });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function mysqlConn() {
  return mysql.createConnection({
    host: '127.0.0.1',
    port: maria.port,
    user: 'edge',
    password: MYSQL_PASSWORD,
    database: 'edge',
    timezone: 'Z',
  });
}

function sinkProp(name: string, sinks: { redis?: boolean; mysql?: boolean }, over: Partial<ResolvedProperty> = {}) {
  return prop(name, {
    visitor: { name, initial: 7 },
    collectCycleMs: 40,
    reportCycleMs: 40,
    pushMethod: {
      dbMethod: {
        ...(sinks.redis ? { redis: { redisClientConfig: { addr: `127.0.0.1:${redis.port}`, db: 0 } } } : {}),
        ...(sinks.mysql
          ? { mysql: { mysqlClientConfig: { addr: `127.0.0.1:${maria.port}`, database: 'edge', userName: 'edge' } } }
          : {}),
      },
    },
    ...over,
  });
}

describe('redis and mysql sinks', () => {
  it("write KubeEdge's layouts, typed and keyed as documented", async () => {
    rig = await startRig(virtualDriverFactory, {
      sinks: SINK_LIMITS,
      logger: capturingLogger(logs),
      rest: { port: 0 },
    });
    // a property name with a backtick: KubeEdge's table SQL would break (or be injected); ours is quoted
    const d = device('virtualProtocol', [sinkProp('temp`x', { redis: true, mysql: true }, { type: 'INT' })]);
    await rig.publish(d);
    const rc = await redisClient();
    const db = await mysqlConn();
    try {
      await waitUntil(async () => (await rc.zCard(d.name)) >= 3, 'three readings in redis', 10_000);
      const [member] = await rc.zRangeWithScores(d.name, 0, 0);
      const dm = JSON.parse(member!.value);
      expect(dm).toEqual({
        DeviceName: d.name,
        PropertyName: 'temp`x',
        Namespace: 'default',
        Value: '7',
        Type: 'int',
        TimeStamp: member!.score,
      });
      const table = `default/${d.name}/temp\`x`;
      await waitUntil(
        async () => {
          const [rows] = await db.query('SELECT COUNT(*) AS n FROM ??', [table]).catch(() => [[{ n: 0 }]] as never);
          return (rows as Array<{ n: number }>)[0]!.n >= 3;
        },
        'three readings in mysql',
        10_000,
      );
      const [cols] = await db.query(
        'SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        ['edge', table],
      );
      expect(cols).toEqual([
        { c: 'id', t: 'bigint(20)' },
        { c: 'ts', t: 'datetime(3)' },
        { c: 'field', t: 'text' },
      ]);
      const [rows] = await db.query('SELECT ts, field FROM ?? ORDER BY id LIMIT 1', [table]);
      const row = (rows as Array<{ ts: Date; field: string }>)[0]!;
      expect(row.field).toBe('7');
      // UTC at 1 ms: the row's ts is the reading's own timestamp
      const scores = (await rc.zRangeWithScores(d.name, 0, -1)).map((m) => m.score);
      expect(scores).toContain(row.ts.getTime());
      // the mapper REST API's database route shows the settings and the sinks' state, never a secret
      const res = await fetch(`${rig.mapper.restUrl}/api/v1/database/default/${d.name}`);
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text).not.toContain(REDIS_PASSWORD);
      expect(text).not.toContain(MYSQL_PASSWORD);
      const body = JSON.parse(text);
      expect(body.Data[0]).toMatchObject({ DeviceName: d.name, PropertyName: 'temp`x', Value: '7', Type: 'int' });
      expect(body.Databases).toEqual([
        expect.objectContaining({
          PropertyName: 'temp`x',
          Database: 'redis',
          Settings: { addr: `127.0.0.1:${redis.port}`, db: 0 },
          Status: expect.objectContaining({ connected: true, dropped: 0 }),
        }),
        expect.objectContaining({
          Database: 'mysql',
          Settings: { addr: `127.0.0.1:${maria.port}`, database: 'edge', userName: 'edge' },
          Status: expect.objectContaining({ connected: true }),
        }),
      ]);
    } finally {
      rc.destroy();
      await db.end();
    }
  });

  it('keys redis by namespace/name outside the default namespace (KubeEdge collides them)', async () => {
    rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: capturingLogger(logs) });
    const d = device('virtualProtocol', [sinkProp('p', { redis: true })], { namespace: 'plant-b' });
    d.id = `plant-b/${d.name}`;
    await rig.publish(d);
    const rc = await redisClient();
    try {
      await waitUntil(async () => (await rc.zCard(`plant-b/${d.name}`)) >= 1, 'a reading under plant-b/name', 10_000);
      expect(await rc.zCard(d.name)).toBe(0);
    } finally {
      rc.destroy();
    }
  });

  it('loses nothing that fits the buffer when both databases restart mid-stream', async () => {
    rig = await startRig(virtualDriverFactory, {
      sinks: { ...SINK_LIMITS, maxBuffered: 1000 },
      logger: capturingLogger(logs),
    });
    const d = device('virtualProtocol', [sinkProp('level', { redis: true, mysql: true })]);
    await rig.publish(d);
    const w = () => rig!.mapper.runtime.worker(d.id);
    await waitUntil(() => (w()?.sinkStatus('level', 'redis')?.written as number) >= 5, 'redis written', 10_000);
    await waitUntil(() => (w()?.sinkStatus('level', 'mysql')?.written as number) >= 5, 'mysql written', 10_000);
    await Promise.all([redis.stop(), maria.stop()]);
    const down = Date.now();
    // 15 more readings buffered after both are down, all taken after `down`
    await readingsTakenAfter(w()!, d, down);
    const buffered = (kind: string) => w()?.sinkStatus('level', kind)?.buffered as number;
    const [redisAtDown, mysqlAtDown] = [buffered('redis'), buffered('mysql')];
    await waitUntil(
      () => buffered('redis') >= redisAtDown + 15 && buffered('mysql') >= mysqlAtDown + 15,
      'a backlog in both sinks while the databases are down',
      10_000,
    );
    expect(w()?.sinkStatus('level', 'redis')?.connected).toBe(false);
    await Promise.all([redis.start(), maria.start()]);
    // stop the stream, then let the backlog drain
    const sinks = [rig.mapper.runtime.worker(d.id)!];
    await rig.remove(d.id);
    const rc = await redisClient();
    const db = await mysqlConn();
    try {
      const table = `default/${d.name}/level`;
      const redisTimes = async () => (await rc.zRangeWithScores(d.name, 0, -1)).map((m) => m.score);
      const mysqlTimes = async () => {
        const [rows] = await db.query('SELECT ts FROM ?? ORDER BY ts', [table]);
        return (rows as Array<{ ts: Date }>).map((r) => r.ts.getTime());
      };
      const sinkOf = (kind: string) =>
        sinks[0]!.sinkStatus('level', kind) as { written: number; buffered: number; dropped: number };
      await waitUntil(
        () => sinkOf('redis').buffered === 0 && sinkOf('mysql').buffered === 0,
        'both backlogs written',
        15_000,
      );
      const [r, m] = [await redisTimes(), await mysqlTimes()];
      // every point handed to each sink is in its database, none dropped, the same points in both
      expect(sinkOf('redis')).toMatchObject({ dropped: 0, written: r.length });
      expect(sinkOf('mysql')).toMatchObject({ dropped: 0, written: m.length });
      expect(m).toEqual(r);
      // ... including the readings taken while the databases were down
      expect(r.filter((t) => t > down).length).toBeGreaterThanOrEqual(15);
      // one warning per outage and sink, not one per point or retry
      const outages = logs.filter((l) => String(l.msg).includes('unreachable; buffering'));
      expect(outages.map((l) => l.sink).sort()).toEqual([
        `mysql:edge@127.0.0.1:${maria.port}/edge`,
        `redis:127.0.0.1:${redis.port}/0`,
      ]);
    } finally {
      rc.destroy();
      await db.end();
    }
  }, 60_000);

  it('drops the oldest beyond the buffer, counted exactly, and keeps the rest', async () => {
    const maxBuffered = 12;
    rig = await startRig(virtualDriverFactory, {
      sinks: { ...SINK_LIMITS, maxBuffered },
      logger: capturingLogger(logs),
    });
    const d = device('virtualProtocol', [sinkProp('flow', { redis: true })]);
    await rig.publish(d);
    const status = () =>
      rig!.mapper.runtime.worker(d.id)?.sinkStatus('flow', 'redis') as
        | { written: number; dropped: number; buffered: number }
        | undefined;
    await waitUntil(() => (status()?.written ?? 0) >= 3, 'redis written', 10_000);
    await redis.stop();
    const down = Date.now();
    await readingsTakenAfter(rig.mapper.runtime.worker(d.id)!, d, down);
    // a buffer's worth dropped from here on: all that remains was taken after `down`
    const droppedAtDown = status()?.dropped ?? 0;
    await waitUntil(
      () => (status()?.dropped ?? 0) >= droppedAtDown + maxBuffered,
      'points dropped from the full buffer',
      15_000,
    );
    const worker = rig.mapper.runtime.worker(d.id)!;
    await rig.remove(d.id);
    await redis.start();
    const rc = await redisClient();
    try {
      const st = () => worker.sinkStatus('flow', 'redis') as { written: number; dropped: number; buffered: number };
      await waitUntil(() => st().buffered === 0, 'backlog flushed', 15_000);
      const stored = (await rc.zRangeWithScores(d.name, 0, -1)).map((m) => m.score);
      expect(stored.length).toBe(st().written);
      // exactly the counted number is dropped (metric, status and the log line agree) ...
      expect(st().dropped).toBeGreaterThanOrEqual(10);
      expect(droppedCount()).toBe(st().dropped);
      const line = logs.filter((l) => String(l.msg).includes('writing again'));
      expect(line).toHaveLength(1);
      expect(line[0]!.dropped).toBe(st().dropped);
      // ... and they were the oldest: of the readings taken while redis was down, the newest maxBuffered remain
      expect(stored.filter((t) => t > down).length).toBe(maxBuffered);
    } finally {
      rc.destroy();
    }

    function droppedCount(): number {
      const m = rig!.mapper.metrics.sinks.points as unknown as {
        hashMap: Record<string, { labels: { result: string }; value: number }>;
      };
      return Object.values(m.hashMap)
        .filter((e) => e.labels.result === 'dropped')
        .reduce((n, e) => n + e.value, 0);
    }
  }, 60_000);

  for (const kind of ['redis', 'mysql'] as const) {
    it(`${kind}: refused credentials are an error naming the sink and device; readings stay buffered within the bound; a fixed secret file recovers without a restart`, async () => {
      const secretFile = join(secrets, kind);
      const good = kind === 'redis' ? REDIS_PASSWORD : MYSQL_PASSWORD;
      await writeFile(secretFile, 'not-the-password');
      try {
        rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: capturingLogger(logs) });
        const d = device('virtualProtocol', [sinkProp('v', { [kind]: true })]);
        await rig.publish(d);
        await waitUntil(
          () => logs.some((l) => l.level === 50 && String(l.msg).includes('refused the credentials')),
          'an error about the credentials',
          10_000,
        );
        const err = logs.find((l) => String(l.msg).includes('refused the credentials'))!;
        expect(err.msg).toContain(d.id);
        expect(err.msg).toContain(`${kind}:`);
        expect(err.devices).toEqual([d.id]);
        expect(String(err.err)).toMatch(kind === 'redis' ? /WRONGPASS|invalid/i : /Access denied/i);
        const w = rig.mapper.runtime.worker(d.id)!;
        const st = () =>
          w.sinkStatus('v', kind)! as {
            connected: boolean;
            error?: string;
            buffered: number;
            written: number;
            dropped: number;
          };
        expect(st().connected).toBe(false);
        expect(String(st().error)).toContain('credentials refused');
        // reads and reports go on; readings pile up to the buffer's bound, the oldest dropped beyond it
        const reports = await collectReports(rig.app, d.id);
        await reports.waitFor(() => reports.messages.length >= 2, 15_000);
        await waitUntil(() => st().dropped > 0, 'the buffer full', 15_000);
        expect(st().buffered).toBe(SINK_LIMITS.maxBuffered);
        // one error line for the outage, not one per retry
        expect(logs.filter((l) => String(l.msg).includes('refused the credentials'))).toHaveLength(1);

        // the operator fixes the secret file: the next reconnect reads it, the backlog is written
        await writeFile(secretFile, good);
        await waitUntil(() => st().connected && st().written >= SINK_LIMITS.maxBuffered, 'writing again', 15_000);
        expect(st().error).toBeUndefined();
        const again = logs.find((l) => String(l.msg).includes('writing again'));
        // the line counts what was dropped during the outage; under load the buffer can fill before the
        // first refusal comes back, and those drops are counted in the status only
        expect(again?.dropped).toBeGreaterThan(0);
        expect(again?.dropped).toBeLessThanOrEqual(st().dropped);
      } finally {
        await writeFile(secretFile, good);
      }
    }, 60_000);
  }
});
