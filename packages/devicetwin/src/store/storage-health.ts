// Whether the twin's disk takes writes (issue 9 §4: a full disk is an error, not a crash loop). SQLite
// reports a full disk as SQLITE_FULL (and, when the WAL or its index cannot grow, as an I/O error). While
// the disk is full the twin keeps answering reads and refuses writes with 500 naming the cause; the first
// write that succeeds again (a probe runs every second while full) clears the state.

import { closeSync, existsSync, openSync, rmSync, statSync, writeSync } from 'node:fs';

export type StorageState = 'ok' | 'full';

/** Bytes kept in a file beside the database, given back when the twin must open on a full disk. */
export const RESERVE_BYTES = 256 * 1024;

/**
 * A file of RESERVE_BYTES beside the database. SQLite needs some space to open a WAL database (its 32 KiB
 * index, the WAL); on a full disk that space comes from here, so the edge starts degraded instead of
 * refusing to start. It is made again once space returns.
 */
export class DiskReserve {
  constructor(readonly path: string) {}

  /** Makes the reserve whole; false if the disk has no room for it (nothing partial is left behind). */
  ensure(): boolean {
    if (existsSync(this.path) && statSync(this.path).size === RESERVE_BYTES) return true;
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'w');
      writeSync(fd, Buffer.alloc(RESERVE_BYTES, 0x52));
      return true;
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(this.path, { force: true });
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Frees the reserve; false if there was none to free. */
  release(): boolean {
    if (!existsSync(this.path)) return false;
    rmSync(this.path, { force: true });
    return true;
  }
}

/** SQLite's and Node's codes for "no space left on the device". */
const FULL_CODES = new Set([
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_IOERR_WRITE',
  'SQLITE_IOERR_SHMSIZE',
  'SQLITE_IOERR_TRUNCATE',
  'ENOSPC',
  'SQLITE_IOERR_FSYNC',
]);

export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string' && FULL_CODES.has(e.code)) return true;
  return typeof e?.message === 'string' && /disk is full|no space left/i.test(e.message);
}

export class StorageHealth {
  private current: StorageState = 'ok';
  private readonly listeners = new Set<(state: StorageState, cause?: string) => void>();
  /** why the last write failed, while full */
  cause: string | undefined;

  get state(): StorageState {
    return this.current;
  }

  /** A write failed because the disk is full. */
  full(err: unknown): void {
    this.cause = (err as Error)?.message ?? String(err);
    this.set('full');
  }

  /** A write succeeded. */
  ok(): void {
    if (this.current === 'ok') return;
    this.cause = undefined;
    this.set('ok');
  }

  onChange(listener: (state: StorageState, cause?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(state: StorageState): void {
    if (state === this.current) return;
    this.current = state;
    for (const l of this.listeners) l(state, this.cause);
  }
}
