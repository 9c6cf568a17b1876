// WAL checkpoints of the twin's database whose fsyncs never stall the event loop (issue 15 targets 5 and 3).
// A checkpoint fsyncs the WAL and the database file; on the event loop it stalled everything the edge
// process does (the twin, the mappers and broker of `edgetwin edge`, the whole stack in `up`) for up to
// 90 ms on a loaded machine (measured in bench/e2e.ts), the p99 tail between a device write and the cloud
// showing it. It first ran on a worker thread with its own connection, but a Node worker is a second V8
// isolate and Node environment: ~7 MiB of the edge's resident memory idle or busy (target 3: < 100 MB with
// 1,000 devices), to run one statement a second.
//
// So the checkpoint does SQLite's own steps in SQLite's order, with only the fsyncs moved to libuv's thread
// pool (fs.promises, the pool Node already runs): a second connection takes a read snapshot ("pin"), the WAL
// is fdatasync'ed up to it, a third connection with synchronous=OFF copies the WAL frames into the database
// file (page-cache writes, no fsync), the database file is fdatasync'ed, and only then the pin is let go.
// The pin is what makes this as safe as SQLite's own checkpoint: SQLite never copies frames past the oldest
// reader's snapshot (so nothing written after the WAL's fsync reaches the database file), and no writer
// restarts the WAL over frames a reader may still need (so until the database file is durable, every
// copied frame is still in the WAL to be copied again after a power loss).

import { open } from 'node:fs/promises';
import Database from 'better-sqlite3';

/**
 * A writer restarts the WAL only once every frame is in the database file, so frames written during a round's
 * fsyncs (not synced, so not copied) keep it growing: up to this many rounds run back to back to take them.
 */
const CATCH_UP_ROUNDS = 8;
/** past this many frames (16 MiB at SQLite's 4 KiB pages) left after those rounds, SQLite's own checkpoint */
const WAL_FRAME_LIMIT = 4096;

export interface CheckpointFailure extends Error {
  code?: string;
}

/** flushes a file's data to the disk on libuv's thread pool */
async function datasync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export class BackgroundCheckpointer {
  /** synchronous=OFF: copies the WAL into the database file without fsync (this class does the fsyncs) */
  private readonly copier: Database.Database;
  /** holds a read snapshot for the length of one checkpoint */
  private readonly pin: Database.Database;
  private readonly begin: Database.Statement;
  private readonly peek: Database.Statement;
  private readonly commit: Database.Statement;
  private running = false;
  private again = false;
  private closed = false;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    /**
     * SQLite's own checkpoint on the twin's connection (fsyncs on the loop): the WAL's bound when writes never
     * pause long enough for the background steps to take all of it (the next write then restarts the WAL)
     */
    private readonly checkpointHere: () => void,
    /** a checkpoint failed (e.g. SQLITE_FULL or ENOSPC on a full disk) */
    private readonly onFailure: (err: CheckpointFailure) => void,
  ) {
    this.copier = new Database(path, { fileMustExist: true });
    this.pin = new Database(path, { fileMustExist: true });
    try {
      this.copier.pragma('synchronous = OFF');
      // neither reads table pages (a checkpoint copies file to file): no page cache to speak of
      this.copier.pragma('cache_size = 1');
      this.pin.pragma('cache_size = 1');
      this.begin = this.pin.prepare('BEGIN');
      this.peek = this.pin.prepare('SELECT 1 FROM sqlite_master LIMIT 1');
      this.commit = this.pin.prepare('COMMIT');
    } catch (e) {
      this.copier.close();
      this.pin.close();
      throw e;
    }
  }

  /**
   * Asks for a checkpoint; one at a time, and one more after it when asked meanwhile. Resolves when the one
   * under way (this one, or the one it joins) is done; it never rejects (failures go to onFailure).
   */
  run(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.current;
    }
    this.running = true;
    this.current = this.checkpoint().then(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        void this.run();
      }
    });
    return this.current;
  }

  private async checkpoint(): Promise<void> {
    try {
      let frames = 0;
      for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
        this.begin.run();
        this.peek.get();
        await datasync(`${this.path}-wal`);
        if (this.closed) return;
        this.copier.pragma('wal_checkpoint(PASSIVE)');
        await datasync(this.path);
        if (this.closed) return;
        // still pinned, so this copies nothing more: it answers how much of the WAL is in the file now
        const [state] = this.copier.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
        this.commit.run();
        frames = state?.log ?? 0;
        // all of it: the next write starts the WAL over from its beginning
        if (frames === (state?.checkpointed ?? 0)) return;
        // writes came in during the fsyncs: their frames are not synced yet; one more round takes them
      }
      // writes never paused for the length of two fsyncs: bound the WAL the way SQLite does, on the loop
      if (frames >= WAL_FRAME_LIMIT) this.checkpointHere();
    } catch (e) {
      if (!this.closed) this.onFailure(e instanceof Error ? e : new Error(String(e)));
    } finally {
      if (this.pin.open && this.pin.inTransaction) this.commit.run();
    }
  }

  /**
   * Closes both connections (the twin's own connection, closing last, checkpoints what is left with SQLite's
   * fsyncs). A checkpoint under way stops where it is: its copy is in the WAL still, the pin being let go here.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.copier.close();
    if (this.pin.inTransaction) this.commit.run();
    this.pin.close();
  }
}
