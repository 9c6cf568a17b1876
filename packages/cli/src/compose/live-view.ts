// The live view of `edgetwin up` (issue 16 §2). It follows the controller's live stream, so a device applied
// while `up` runs appears, a deleted one goes, and what it shows is what `get` and `describe` show: rows
// sorted, the reported value of each property (a desired one not reported yet after an arrow), a refused
// write as its failure and reason, and when the device was last heard from. It owns the terminal: logs go
// to a file, and every line is cut to the terminal's width, so a redraw always overwrites exactly what it drew.
import { type Device, ownValue, type WriteStatus } from '@edgetwin/api';
import { age, lastSeen } from '@edgetwin/device-controller/cli/present';
import type { ControllerClient } from '@edgetwin/device-controller/http/client';

export interface LiveViewOptions {
  client: ControllerClient;
  /** the terminal (process.stdout); while the view runs, anything else written to stdout or stderr goes to `divert` */
  out: NodeJS.WriteStream;
  /** where text that a library prints straight to the terminal goes instead (the log file) */
  divert?: (text: string, stream: 'stdout' | 'stderr') => void;
  /** one device line: the demos' look (lamps for ON/OFF properties) */
  render: (id: string, snapshot: Record<string, { expected?: string; actual?: string }>) => string;
  /** redraw at least this often, so "seen Ns ago" moves (ms, default 1000) */
  tickMs?: number;
}

const CLEAR_LINE = '\x1b[2K';
const CLEAR_BELOW = '\x1b[J';
const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';
/** an ANSI CSI sequence (colours, cursor moves) at the start of a string */
const CSI = new RegExp(`^${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`);

/** A line cut to `width` visible characters; ANSI colour codes do not count and the colour is reset. */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    const esc = CSI.exec(line.slice(i));
    if (esc) {
      out += esc[0];
      i += esc[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible + 1 > width) return `${out}${RESET}`;
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}

/** One device as a line: the demos' rendering, then failed writes with their reasons, then last seen. */
export function deviceLine(d: Device, render: LiveViewOptions['render'], now = Date.now()): string {
  const id = `${d.metadata.namespace ?? 'default'}/${d.metadata.name}`;
  const writes = ((d.status?.extensions as { writes?: Record<string, WriteStatus> } | undefined)?.writes ??
    {}) as Record<string, WriteStatus>;
  const reported = new Map((d.status?.twins ?? []).map((t) => [t.propertyName, t.reported?.value]));
  const snapshot: Record<string, { expected?: string; actual?: string }> = {};
  const failures: string[] = [];
  for (const p of d.spec.properties ?? []) {
    const actual = reported.get(p.name);
    const desired = p.desired?.value;
    const w = ownValue(writes, p.name);
    const failed = w?.state === 'failed' && desired !== undefined && w.desired === desired;
    snapshot[p.name] = {
      ...(actual !== undefined ? { actual } : {}),
      // a refused write is not "on its way": it shows as a failure below, not as an arrow forever
      ...(desired !== undefined && !failed ? { expected: desired } : {}),
    };
    if (failed) failures.push(`${RED}✗ ${p.name}=${desired}: ${w.reason ?? 'write failed'}${RESET}`);
  }
  const seen = lastSeen(d);
  const state = d.status?.state ?? 'unknown';
  return [
    render(id, snapshot),
    ...failures,
    `${DIM}${state}, ${seen ? `seen ${age(seen, now)} ago` : 'never seen'}${RESET}`,
  ].join('  ');
}

/**
 * Takes the terminal for the view: a library that prints on its own (node-opcua's warnings did, into the
 * view) is diverted; returns the real write and the undo.
 */
function takeTerminal(
  out: NodeJS.WriteStream,
  divert: NonNullable<LiveViewOptions['divert']>,
): { write: (s: string) => void; restore: () => void } {
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  const write = (s: string) => void realOut.call(out, s);
  const catcher = (stream: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      divert(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(), stream);
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = catcher('stdout');
  process.stderr.write = catcher('stderr');
  return {
    write,
    restore: () => {
      process.stdout.write = realOut;
      process.stderr.write = realErr;
    },
  };
}

export async function startLiveView(opts: LiveViewOptions): Promise<{ stop(): Promise<void> }> {
  const { out } = opts;
  const terminal = opts.divert
    ? takeTerminal(out, opts.divert)
    : { write: (s: string) => void out.write(s), restore: () => undefined };
  const devices = new Map<string, Device>();
  const abort = new AbortController();
  let drawn = 0;
  let stopped = false;
  let pending: NodeJS.Timeout | undefined;

  const draw = () => {
    pending = undefined;
    if (stopped) return;
    const width = Math.max(20, (out.columns ?? 100) - 1);
    const now = Date.now();
    const lines = [...devices.keys()]
      .sort()
      .map((id) => fitLine(deviceLine(devices.get(id)!, opts.render, now), width));
    if (lines.length === 0) lines.push(`${DIM}(no devices yet: edgetwin apply -f ...)${RESET}`);
    let text = drawn > 0 ? `\x1b[${drawn}A\r` : '\r';
    for (const l of lines) text += `${CLEAR_LINE}${l}\n`;
    text += CLEAR_BELOW;
    drawn = lines.length;
    terminal.write(text);
  };
  const soon = () => {
    pending ??= setTimeout(draw, 50);
  };
  const tick = setInterval(draw, opts.tickMs ?? 1000);
  const following = opts.client
    .stream((event, data) => {
      if (event === 'devices') {
        devices.clear();
        for (const d of (data as { items: Device[] }).items) devices.set(key(d), d);
      } else if (event === 'device') devices.set(key(data as Device), data as Device);
      else if (event === 'device-deleted') devices.delete((data as { id: string }).id);
      else return;
      soon();
    }, abort.signal)
    .catch(() => undefined);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tick);
      if (pending) clearTimeout(pending);
      abort.abort();
      await following;
      terminal.restore();
    },
  };
}

function key(d: Device): string {
  return `${d.metadata.namespace ?? 'default'}/${d.metadata.name}`;
}
