// One home for running a Python test peer that speaks JSON lines (the BLE peripherals of issue 12, the
// emulated ONVIF camera of issue 13): the program prints {"event":"ready",...} when serving, answers
// {"id":N,"ok":bool,"value"|"error"} to each {"id":N,"cmd":...} on stdin, and may print other {"event":...}
// lines. Waits on the ready line, never on time; a peer that exits fails every pending call with its stderr.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { venvPython } from './peers.js';

export interface PythonPeer<Ready> {
  ready: Ready;
  /** `{event, ...}` lines the peer prints besides answers; 'exit' (Error) when it ends */
  events: EventEmitter;
  call(cmd: Record<string, unknown>): Promise<unknown>;
  pid: number;
  /** SIGTERM, then SIGKILL after 5 s */
  stop(): Promise<void>;
}

export async function startPythonPeer<Ready>(
  name: string,
  args: string[],
  opts: { cwd: string; readyTimeoutMs: number },
): Promise<PythonPeer<Ready>> {
  const child: ChildProcess = spawn(venvPython(), args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const events = new EventEmitter();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited = false;
  const exitPromise = new Promise<void>((res) => child.once('exit', () => res()));
  child.once('exit', (code, sig) => {
    exited = true;
    const err = new Error(`${name} exited (${sig ?? code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    events.emit('exit', err);
  });
  const ready = new Promise<Ready>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${name} not ready within ${opts.readyTimeoutMs} ms: ${stderr}`)),
      opts.readyTimeoutMs,
    );
    events.once('ready', (m: Ready) => {
      clearTimeout(timer);
      res(m);
    });
    events.once('exit', (e: Error) => {
      clearTimeout(timer);
      rej(e);
    });
  });
  if (!child.stdout) throw new Error(`${name}: no stdout pipe`);
  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg: { event?: string; id?: number; ok?: boolean; value?: unknown; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.event) return events.emit(msg.event, msg);
    const p = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id as number);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new Error(`${name}: ${msg.error}`));
  });
  const call = (cmd: Record<string, unknown>): Promise<unknown> => {
    if (exited) return Promise.reject(new Error(`${name} is not running`));
    const id = nextId++;
    return new Promise((res, rej) => {
      pending.set(id, { resolve: res, reject: rej });
      child.stdin?.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  };
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(t);
  };
  try {
    return { ready: await ready, events, call, pid: child.pid ?? -1, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
