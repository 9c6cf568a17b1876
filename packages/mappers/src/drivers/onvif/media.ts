// saveFrame / saveVideo (issue 13, KubeEdge's STREAM properties, reference §2.4): Debian's ffmpeg, found on
// PATH, reads the camera's RTSP stream over TCP and writes frames (jpg/png) or videos (mp4/mkv/avi) into the
// visitor's outputDir; after each job, retention removes this property's oldest files beyond retainFiles,
// retainBytes and retainSeconds. Jobs are child processes (never blocking the mapper's event loop), at most
// MAX_CONCURRENT_JOBS at once in the mapper, each bounded by jobTimeout. Like KubeEdge's mapper, a job runs
// once when the device connects; writing the property starts another.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { OnvifVisitor, RetentionLimits } from './config.js';
import type { Credentials } from './soap.js';

export const MAX_CONCURRENT_JOBS = 2;

export interface MediaStatus {
  state: 'idle' | 'queued' | 'running' | 'done' | 'failed';
  /** files this property has in outputDir after retention, and their bytes */
  files: number;
  bytes: number;
  lastFile?: string;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
}

let running = 0;
const waiting: Array<() => void> = [];
async function slot(): Promise<() => void> {
  if (running >= MAX_CONCURRENT_JOBS) await new Promise<void>((r) => waiting.push(r));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

/** The files one property wrote into `dir`, oldest first (by name: they carry their start time). */
export async function ownFiles(
  dir: string,
  prefix: string,
): Promise<Array<{ path: string; bytes: number; mtimeMs: number }>> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).sort();
  const out: Array<{ path: string; bytes: number; mtimeMs: number }> = [];
  for (const n of names) {
    const st = await stat(join(dir, n)).catch(() => undefined);
    if (st?.isFile()) out.push({ path: join(dir, n), bytes: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Deletes the oldest of a property's files until every limit holds; returns what is left. */
export async function applyRetention(
  dir: string,
  prefix: string,
  limits: RetentionLimits,
  now = Date.now(),
): Promise<{ files: number; bytes: number; removed: number }> {
  const files = await ownFiles(dir, prefix);
  let bytes = files.reduce((s, f) => s + f.bytes, 0);
  let removed = 0;
  while (files.length > 0) {
    const oldest = files[0] as (typeof files)[number];
    const tooOld = limits.maxAgeMs > 0 && now - oldest.mtimeMs > limits.maxAgeMs;
    if (files.length <= limits.maxFiles && bytes <= limits.maxBytes && !tooOld) break;
    await unlink(oldest.path).catch(() => undefined);
    files.shift();
    bytes -= oldest.bytes;
    removed++;
  }
  return { files: files.length, bytes, removed };
}

export class FfmpegMissing extends Error {
  constructor() {
    super('ffmpeg is not on PATH: saveFrame and saveVideo need it (Debian: apt-get install ffmpeg)');
  }
}

function runFfmpeg(args: string[], timeoutMs: number, track: (c: ChildProcess | undefined) => void): Promise<void> {
  return new Promise((res, rej) => {
    let err = '';
    const child = spawn(process.env.EDGETWIN_FFMPEG ?? 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    track(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      track(undefined);
      rej(e.code === 'ENOENT' ? new FfmpegMissing() : e);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      track(undefined);
      if (code === 0) res();
      else
        rej(
          new Error(
            sig === 'SIGKILL'
              ? `ffmpeg ran longer than jobTimeout ${timeoutMs} ms and was stopped`
              : `ffmpeg exited ${sig ?? code}: ${err.trim().split('\n').slice(-2).join(' | ')}`,
          ),
        );
    });
  });
}

interface Job {
  status: MediaStatus;
  child?: ChildProcess;
  stopped: boolean;
}

/** The saveFrame/saveVideo jobs of one device. */
export class MediaJobs {
  private readonly jobs = new Map<string, Job>();
  /** properties whose connect-time job already ran (KubeEdge runs a stream property once per start) */
  private readonly started = new Set<string>();

  constructor(
    private readonly deviceId: string,
    private readonly logger: Logger,
    private readonly onFrame: (time: number) => void,
  ) {}

  status(property: string): MediaStatus {
    return this.jobs.get(property)?.status ?? { state: 'idle', files: 0, bytes: 0 };
  }

  /** Starts the connect-time job of a property, once per connection. */
  ensure(property: string, v: OnvifVisitor, uri: string, cred: Credentials | undefined): void {
    if (this.started.has(property)) return;
    this.start(property, v, uri, cred);
  }

  /** Starts a job now unless one is queued or running. */
  start(property: string, v: OnvifVisitor, uri: string, _cred: Credentials | undefined): void {
    this.started.add(property);
    const prev = this.jobs.get(property);
    if (prev && (prev.status.state === 'queued' || prev.status.state === 'running')) return;
    const job: Job = {
      status: { state: 'queued', files: prev?.status.files ?? 0, bytes: prev?.status.bytes ?? 0 },
      stopped: false,
    };
    this.jobs.set(property, job);
    void this.run(property, job, v, uri);
  }

  private async run(property: string, job: Job, v: OnvifVisitor, uri: string): Promise<void> {
    const release = await slot();
    const dir = resolve(v.outputDir ?? '.');
    const prefix = `${this.deviceId.replace('/', '_')}-${property}-`;
    try {
      if (job.stopped) return;
      job.status.state = 'running';
      job.status.startedAt = Date.now();
      await mkdir(dir, { recursive: true });
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.(\d{3})Z$/, '$1Z');
      const input = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', uri];
      const track = (c: ChildProcess | undefined) => {
        if (c) job.child = c;
        else delete job.child;
      };
      if (v.datum === 'saveFrame') {
        const fps = v.frameIntervalNs > 0 ? ['-vf', `fps=${(1e9 / v.frameIntervalNs).toFixed(6)}`] : [];
        const out = join(dir, `${prefix}${stamp}-%04d.${v.format}`);
        await runFfmpeg(
          [...input, ...fps, '-frames:v', String(v.frameCount), '-f', 'image2', out],
          v.jobTimeoutMs,
          track,
        );
        job.status.lastFile = out.replace('%04d', String(v.frameCount).padStart(4, '0'));
      } else {
        for (let i = 1; i <= v.videoNum && !job.stopped; i++) {
          const out = join(dir, `${prefix}${stamp}-${String(i).padStart(4, '0')}.${v.format}`);
          await runFfmpeg(
            [...input, '-an', '-c:v', 'copy', '-frames:v', String(v.frameCount), out],
            v.jobTimeoutMs,
            track,
          );
          job.status.lastFile = out;
          const kept = await applyRetention(dir, prefix, v.retention);
          job.status.files = kept.files;
          job.status.bytes = kept.bytes;
        }
      }
      this.onFrame(Date.now());
      const kept = await applyRetention(dir, prefix, v.retention);
      job.status.files = kept.files;
      job.status.bytes = kept.bytes;
      job.status.state = 'done';
      delete job.status.error;
    } catch (e) {
      job.status.state = 'failed';
      job.status.error = job.stopped ? 'stopped: the device disconnected' : (e as Error).message;
      if (!job.stopped) this.logger.warn({ property, err: (e as Error).message }, `${property} failed`);
    } finally {
      job.status.finishedAt = Date.now();
      release();
    }
  }

  async stopAll(): Promise<void> {
    this.started.clear();
    for (const job of this.jobs.values()) {
      job.stopped = true;
      job.child?.kill('SIGTERM');
    }
  }
}
