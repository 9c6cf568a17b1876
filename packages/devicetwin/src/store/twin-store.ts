// SQLite persistence of the edge twin (better-sqlite3, WAL). Only this file speaks SQL.
//
// Durability choice: journal_mode=WAL with synchronous=NORMAL. A committed transaction survives a crash of
// the process (SIGKILL, OOM kill) because the WAL is written before commit returns; only an OS crash or
// power loss can lose the last transactions (they were not fsynced). docs/twin.md explains the trade.
//
// Checkpoints (which fsync) run on a one-second timer instead of SQLite's every-1000-pages default, so
// they do not stall a request in the middle of a burst, and an OS crash loses at most about a second.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Device, DeviceModel, DeviceState, OutboxEntry, PropertyType, Report, WriteStatus } from '@edgetwin/api';
import Database from 'better-sqlite3';
import { TwinError } from '../errors.js';
import type { DesiredSource, DeviceRecord, ModelRecord, TwinRecord } from '../twin/records.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';
import { DiskReserve, isDiskFull, StorageHealth } from './storage-health.js';

const CHECKPOINT_INTERVAL_MS = 1000;
const CHECKPOINT_MAX_WRITES = 5000;

interface TwinRow {
  device_id: string;
  name: string;
  attr_type: string;
  optional: number;
  expected: string | null;
  expected_ts: number;
  expected_cloud_ver: number;
  expected_edge_ver: number;
  expected_source: string | null;
  cloud_desired: string | null;
  actual: string | null;
  actual_ts: number;
  actual_cloud_ver: number;
  actual_edge_ver: number;
  write_status: string | null;
}

interface DeviceRow {
  id: string;
  namespace: string;
  name: string;
  description: string;
  model_id: string;
  json: string;
  state: string;
  last_online: string;
}

export interface LoadedState {
  models: Map<string, ModelRecord>;
  devices: Map<string, DeviceRecord>;
}

export class TwinStore {
  readonly path: string;
  /** whether the disk takes writes; reads work either way */
  readonly health = new StorageHealth();
  /** space set aside so the twin can open (degraded) on a full disk */
  private readonly reserve: DiskReserve | undefined;
  private readonly db: Database.Database;
  private readonly stmts;
  /** built once: better-sqlite3's transaction() wrapper is costly to create per call */
  private readonly runInTransaction: (fn: () => unknown) => unknown;
  private writesSinceCheckpoint = 0;
  private readonly checkpointTimer: NodeJS.Timeout;
  /** checkpoints off the event loop (a file database); undefined for ':memory:' */
  private readonly checkpointer: BackgroundCheckpointer | undefined;

  constructor(
    path: string,
    /** errors of background work (the checkpoint timer) other than a full disk, which `health` reports */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.path = path;
    this.reserve = path === ':memory:' ? undefined : new DiskReserve(`${path}.reserve`);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = this.open();
    } catch (e) {
      // Opening needs a little space (the WAL index, the WAL). On a full disk, give back the reserve kept
      // for this moment and start degraded: reads work, writes get 500 until space returns.
      if (!isDiskFull(e) || !this.reserve?.release()) throw this.openError(e);
      try {
        this.db = this.open();
      } catch (again) {
        throw this.openError(again);
      }
      this.health.full(e);
    }
    if (this.health.state === 'ok' && this.reserve && !this.reserve.ensure())
      this.health.full(new Error('ENOSPC: no space left for the reserve'));
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION)
      throw new TwinError(
        500,
        `twin database ${path} has schema version ${version}, newer than this edgetwin (${SCHEMA_VERSION}); upgrade edgetwin`,
      );
    this.db.exec(SCHEMA);
    // Written only when it changes: opening an existing database must not need free space.
    if (version !== SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.runInTransaction = this.db.transaction((fn: () => unknown) => fn());
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpointer =
      path === ':memory:'
        ? undefined
        : new BackgroundCheckpointer(
            path,
            () => this.db.pragma('wal_checkpoint(PASSIVE)'),
            (e) => {
              if (isDiskFull(e)) this.health.full(e);
              else this.onError(e);
            },
          );
    this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_INTERVAL_MS);
    this.checkpointTimer.unref();
    this.stmts = {
      putModel: this.db.prepare('INSERT OR REPLACE INTO models (id, resource_version, json) VALUES (?, ?, ?)'),
      deleteModel: this.db.prepare('DELETE FROM models WHERE id = ?'),
      putDevice: this.db.prepare(
        `INSERT INTO devices (id, namespace, name, description, model_id, resource_version, json, state, last_online)
         VALUES (@id, @namespace, @name, @description, @model_id, @resource_version, @json, @state, @last_online)
         ON CONFLICT(id) DO UPDATE SET namespace=excluded.namespace, name=excluded.name,
           description=excluded.description, model_id=excluded.model_id,
           resource_version=excluded.resource_version, json=excluded.json`,
      ),
      putState: this.db.prepare('UPDATE devices SET state = ?, last_online = ? WHERE id = ?'),
      deleteDevice: this.db.prepare('DELETE FROM devices WHERE id = ?'),
      deleteDeviceTwins: this.db.prepare('DELETE FROM twins WHERE device_id = ?'),
      putTwin: this.db.prepare(
        `INSERT OR REPLACE INTO twins (device_id, name, attr_type, optional, expected, expected_ts, expected_cloud_ver,
           expected_edge_ver, expected_source, cloud_desired, actual, actual_ts, actual_cloud_ver, actual_edge_ver, write_status)
         VALUES (@device_id, @name, @attr_type, @optional, @expected, @expected_ts, @expected_cloud_ver,
           @expected_edge_ver, @expected_source, @cloud_desired, @actual, @actual_ts, @actual_cloud_ver, @actual_edge_ver,
           @write_status)`,
      ),
      deleteTwin: this.db.prepare('DELETE FROM twins WHERE device_id = ? AND name = ?'),
      allModels: this.db.prepare('SELECT id, json FROM models'),
      allDevices: this.db.prepare(
        'SELECT id, namespace, name, description, model_id, json, state, last_online FROM devices',
      ),
      allTwins: this.db.prepare('SELECT * FROM twins'),
      appendOutbox: this.db.prepare('INSERT INTO outbox (timestamp, report) VALUES (?, ?)'),
      pendingOutbox: this.db.prepare('SELECT seq, timestamp, report FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      ackOutbox: this.db.prepare('DELETE FROM outbox WHERE seq <= ?'),
      deleteOutbox: this.db.prepare('DELETE FROM outbox WHERE seq = ?'),
      replaceOutbox: this.db.prepare('UPDATE outbox SET report = ? WHERE seq = ?'),
      outboxDepth: this.db.prepare('SELECT count(*) AS n FROM outbox'),
      outboxCountAfter: this.db.prepare('SELECT count(*) AS n FROM outbox WHERE seq > ?'),
      lastSeq: this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"),
      getKv: this.db.prepare('SELECT value FROM kv WHERE key = ?'),
      putKv: this.db.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)'),
    };
  }

  /** Runs fn in one transaction (nested calls join the outer one). Throws after rolling back if fn throws. */
  transaction<T>(fn: () => T): T {
    let result: T;
    try {
      result = this.runInTransaction(fn) as T;
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.health.full(e);
      throw this.fullError(e);
    }
    if (!this.db.inTransaction) this.health.ok();
    // a safety net for a sustained flood: never let the WAL grow without bound between timer ticks
    if (++this.writesSinceCheckpoint >= CHECKPOINT_MAX_WRITES) this.checkpoint();
    return result;
  }

  /**
   * Copies the WAL into the database file (PASSIVE: never waits for readers) through the checkpointer, whose
   * fsyncs run on libuv's thread pool: they never stall the event loop (issue 15 target 5). Runs on a timer,
   * so it never throws: a full disk becomes the `full` state (the WAL stays valid and is copied on a later
   * tick). While full, each tick also tries a small write, so the state clears by itself once space returns.
   */
  checkpoint(): void {
    if (!this.db.open || this.db.inTransaction) return;
    try {
      if (this.health.state === 'full') {
        // Space is back once the reserve is whole again and a write goes through.
        if (this.reserve && !this.reserve.ensure()) return;
        this.transaction(() => this.stmts.putKv.run('storage_probe', String(Date.now())));
      }
      if (this.writesSinceCheckpoint === 0) return;
      this.writesSinceCheckpoint = 0;
      if (this.checkpointer) void this.checkpointer.run();
      else this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (e) {
      if (isDiskFull(e) || (e instanceof TwinError && this.health.state === 'full')) this.health.full(e);
      else this.onError(e);
    }
  }

  private open(): Database.Database {
    const db = new Database(this.path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      // 512 KiB of page cache, not SQLite's 2 MiB: the twin keeps its state in memory and only writes here
      // (what it reads back comes from the WAL and the OS's cache); ~1.5 MiB of the edge's RSS with 1,000
      // devices (issue 15 target 3)
      db.pragma('cache_size = -512');
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private openError(e: unknown): TwinError {
    return new TwinError(500, `cannot open twin database ${this.path}: ${(e as Error).message}`);
  }

  /** The 500 a write gets while the disk is full. */
  private fullError(e: unknown): TwinError {
    return new TwinError(
      500,
      `cannot store the change: the disk holding ${this.path} is full (${(e as { code?: string }).code ?? (e as Error).message}); reads still work, writes resume once space is freed`,
    );
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  loadAll(): LoadedState {
    const models = new Map<string, ModelRecord>();
    for (const row of this.stmts.allModels.all() as Array<{ id: string; json: string }>) {
      models.set(row.id, { id: row.id, model: parseJson<DeviceModel>(row.json, `models row ${row.id}`) });
    }
    const devices = new Map<string, DeviceRecord>();
    for (const row of this.stmts.allDevices.all() as DeviceRow[]) {
      devices.set(row.id, {
        id: row.id,
        namespace: row.namespace,
        name: row.name,
        description: row.description,
        modelId: row.model_id,
        device: parseJson<Device>(row.json, `devices row ${row.id}`),
        state: row.state as DeviceState,
        lastOnline: row.last_online,
        twins: new Map(),
      });
    }
    for (const row of this.stmts.allTwins.all() as TwinRow[]) {
      const dev = devices.get(row.device_id);
      if (!dev) continue; // orphan rows cannot happen through this class; ignore rather than fail the node
      dev.twins.set(row.name, twinFromRow(row));
    }
    return { models, devices };
  }

  putModel(rec: ModelRecord): void {
    this.stmts.putModel.run(rec.id, rec.model.metadata.resourceVersion ?? '', JSON.stringify(rec.model));
  }

  deleteModel(id: string): void {
    this.stmts.deleteModel.run(id);
  }

  putDevice(rec: DeviceRecord): void {
    this.stmts.putDevice.run({
      id: rec.id,
      namespace: rec.namespace,
      name: rec.name,
      description: rec.description,
      model_id: rec.modelId,
      resource_version: rec.device.metadata.resourceVersion ?? '',
      json: JSON.stringify(rec.device),
      state: rec.state,
      last_online: rec.lastOnline,
    });
  }

  putState(id: string, state: DeviceState, lastOnline: string): void {
    this.stmts.putState.run(state, lastOnline, id);
  }

  deleteDevice(id: string): void {
    this.stmts.deleteDeviceTwins.run(id);
    this.stmts.deleteDevice.run(id);
  }

  putTwin(deviceId: string, t: TwinRecord): void {
    this.stmts.putTwin.run({
      device_id: deviceId,
      name: t.name,
      attr_type: t.type,
      optional: t.optional ? 1 : 0,
      expected: t.expected ?? null,
      expected_ts: t.expectedTs,
      expected_cloud_ver: t.expectedVersion.cloud,
      expected_edge_ver: t.expectedVersion.edge,
      expected_source: t.expectedSource ?? null,
      cloud_desired: t.cloudDesired ?? null,
      actual: t.actual ?? null,
      actual_ts: t.actualTs,
      actual_cloud_ver: t.actualVersion.cloud,
      actual_edge_ver: t.actualVersion.edge,
      write_status: t.writeStatus ? JSON.stringify(t.writeStatus) : null,
    });
  }

  deleteTwin(deviceId: string, name: string): void {
    this.stmts.deleteTwin.run(deviceId, name);
  }

  appendOutbox(report: Report, timestamp: number): OutboxEntry {
    const info = this.stmts.appendOutbox.run(timestamp, JSON.stringify(report));
    return { ...report, seq: Number(info.lastInsertRowid), timestamp };
  }

  deleteOutboxEntry(seq: number): void {
    this.stmts.deleteOutbox.run(seq);
  }

  replaceOutboxReport(seq: number, report: Report): void {
    this.stmts.replaceOutbox.run(JSON.stringify(report), seq);
  }

  pendingOutbox(afterSeq: number, limit: number): OutboxEntry[] {
    const rows = this.stmts.pendingOutbox.all(afterSeq, limit) as Array<{
      seq: number;
      timestamp: number;
      report: string;
    }>;
    return rows.map((r) => ({
      ...parseJson<Report>(r.report, `outbox seq ${r.seq}`),
      seq: r.seq,
      timestamp: r.timestamp,
    }));
  }

  /** Deletes acknowledged entries and remembers the highest ack, in one transaction. Idempotent. */
  ackOutbox(upTo: number): void {
    this.transaction(() => {
      if (upTo <= this.ackedSeq()) return;
      this.stmts.ackOutbox.run(upTo);
      this.stmts.putKv.run('outbox_acked_seq', String(upTo));
    });
  }

  ackedSeq(): number {
    const row = this.stmts.getKv.get('outbox_acked_seq') as { value: string } | undefined;
    return row ? Number(row.value) : 0;
  }

  /** Highest seq ever handed out; AUTOINCREMENT keeps it in sqlite_sequence even when every row is acked. */
  lastSeq(): number {
    const row = this.stmts.lastSeq.get() as { seq: number } | undefined;
    return row ? row.seq : 0;
  }

  outboxCountAfter(seq: number): number {
    return (this.stmts.outboxCountAfter.get(seq) as { n: number }).n;
  }

  getKv(key: string): string | undefined {
    return (this.stmts.getKv.get(key) as { value: string } | undefined)?.value;
  }

  putKv(key: string, value: string): void {
    this.stmts.putKv.run(key, value);
  }

  outboxDepth(): number {
    return (this.stmts.outboxDepth.get() as { n: number }).n;
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    clearInterval(this.checkpointTimer);
    // its connections close first; the main connection, closing last, checkpoints what is left
    this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }
}

function twinFromRow(row: TwinRow): TwinRecord {
  const t: TwinRecord = {
    name: row.name,
    type: row.attr_type as PropertyType,
    optional: row.optional !== 0,
    expectedTs: row.expected_ts,
    expectedVersion: { cloud: row.expected_cloud_ver, edge: row.expected_edge_ver },
    actualTs: row.actual_ts,
    actualVersion: { cloud: row.actual_cloud_ver, edge: row.actual_edge_ver },
  };
  if (row.expected !== null) t.expected = row.expected;
  if (row.expected_source !== null) t.expectedSource = row.expected_source as DesiredSource;
  if (row.cloud_desired !== null) t.cloudDesired = row.cloud_desired;
  if (row.actual !== null) t.actual = row.actual;
  if (row.write_status !== null)
    t.writeStatus = parseJson<WriteStatus>(row.write_status, `twin ${row.device_id} ${row.name}`);
  return t;
}

function parseJson<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new TwinError(500, `twin database holds invalid JSON in ${where}: ${(e as Error).message}`);
  }
}
