// Small builders and waiting helpers shared by the controller tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { API_VERSION, type Device, type DeviceModel, type OutboxEntry } from '@edgetwin/api';
import { ControllerError } from '../src/http/client.js';
import { SAMPLE_FILES, SAMPLES } from '../../api/test/support/samples.js';

/** The ControllerError a call must end in (the test fails if it succeeds or fails otherwise). */
export async function refusal(p: Promise<unknown>): Promise<ControllerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ControllerError) return e;
    throw e;
  }
  throw new Error('expected the controller to refuse');
}

export { SAMPLE_FILES, SAMPLES };

/** one of the project's KubeEdge-format samples, as apply reads it */
export function fixture(name: string): { file: string; text: string } {
  const file = join(SAMPLES, name);
  return { file, text: readFileSync(file, 'utf8') };
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-ctl-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function model(
  name: string,
  props: Record<string, Partial<{ type: string; accessMode: string; minimum: string; maximum: string }>> = {
    temp: { type: 'FLOAT' },
  },
  ns = 'default',
): DeviceModel {
  return {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name, namespace: ns },
    spec: {
      protocol: 'virtual',
      properties: Object.entries(props).map(([n, p]) => ({ name: n, ...p })) as DeviceModel['spec']['properties'],
    },
  };
}

export function device(
  name: string,
  node: string,
  modelName: string,
  props: string[] = ['temp'],
  ns = 'default',
): Device {
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name, namespace: ns },
    spec: {
      deviceModelRef: { name: modelName },
      nodeName: node,
      protocol: { protocolName: 'virtual' },
      properties: props.map((p) => ({ name: p })),
    },
  };
}

let seq = 0;
export function twinReport(id: string, property: string, value: string, timestamp = Date.now()): OutboxEntry {
  return {
    kind: 'twin',
    deviceId: id,
    seq: ++seq,
    timestamp,
    twins: [{ property, reported: { value, timestamp, type: 'float' } }],
  };
}

/** Resolves when `check` returns a value other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // polls the condition (not a fixed sleep): a short timer keeps the loop from spinning a core
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** waitFor for a condition that has to be awaited. */
export async function waitForAsync<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved */
  out: () => string;
  /** resolves with the exit code (null when killed by a signal) */
  exited: Promise<number | null>;
}

const CLI = resolve(import.meta.dirname, '../../cli/bin/edgetwin.js');

/** `edgetwin ARGS` as a process of its own (logs at info unless env says otherwise). */
export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

/** Boots a test cluster of real processes; if that fails, stops what started and says why, with its last output. */
export async function bootOrStop<T extends { output(): string; stop(): Promise<void> }>(
  cluster: T,
  boot: () => Promise<void>,
): Promise<T> {
  try {
    await boot();
  } catch (e) {
    const out = cluster.output();
    await cluster.stop();
    throw new Error(`${(e as Error).message}\n--- cluster output (last lines) ---\n${out}`, { cause: e });
  }
  return cluster;
}
