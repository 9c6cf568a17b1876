// WAL checkpoints of the twin's database on a worker thread with its own connection (issue 15 target 5).
// A checkpoint fsyncs the WAL and the database file; on the event loop it stalled everything the edge
// process does (the twin, the mappers and broker of `edgetwin edge`, the whole stack in `up`) for up to
// 90 ms on a loaded machine (measured in bench/e2e.ts), the p99 tail between a device write and the cloud
// showing it. SQLite lets a second connection checkpoint while the first writes (WAL: the checkpointer
// copies frames up to the last commit it sees; writers append meanwhile), so only the thread moves.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, plain CommonJS run by `eval` (no loader: the sources run through tsx, whose hooks a
 * worker does not get). It opens the database once and runs a PASSIVE checkpoint per message.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.lib);
let db;
parentPort.on('message', () => {
  try {
    db ??= new Database(workerData.path, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true });
  } catch (e) {
    parentPort.postMessage({ ok: false, message: String(e && e.message), code: e && e.code });
  }
});
`;

export interface CheckpointFailure extends Error {
  code?: string;
}

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private running = false;
  private again = false;
  private closed = false;

  constructor(
    path: string,
    /** a checkpoint failed (e.g. SQLITE_FULL on a full disk) */
    private readonly onFailure: (err: CheckpointFailure) => void,
  ) {
    const lib = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { path, lib } });
    this.worker.unref();
    this.worker.on('message', (m: { ok: boolean; message?: string; code?: string }) => {
      this.running = false;
      if (!m.ok && !this.closed) {
        const err: CheckpointFailure = new Error(m.message ?? 'checkpoint failed');
        if (m.code) err.code = m.code;
        this.onFailure(err);
      }
      if (this.again) {
        this.again = false;
        this.run();
      }
    });
    this.worker.on('error', (e) => {
      this.running = false;
      if (!this.closed) this.onFailure(e);
    });
  }

  /** Asks for a checkpoint; one at a time, and one more after it when asked meanwhile. */
  run(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.worker.postMessage(0);
  }

  close(): Promise<number> {
    this.closed = true;
    return this.worker.terminate();
  }
}
