// What the browser tests and the screenshot script share (issue 16): a real `edgetwin up` in a temporary
// directory, and Debian's Chromium driven by playwright-core with every outside host unresolvable.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

const BIN = resolve(import.meta.dirname, '../../cli/bin/edgetwin.js');

export interface UpStack {
  dir: string;
  controllerUrl: string;
  /** the one-time login link up printed */
  consoleLink: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `edgetwin up` with these examples on free ports, until its banner says it is up. */
export async function startUp(examples: string[], timeoutMs = 90_000): Promise<UpStack> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-console-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BIN,
      'up',
      '--example',
      ...examples,
      '--port',
      '0',
      '--cloud-port',
      '0',
      '--http-port',
      '0',
      '--rest-port',
      '0',
      '--modbus-port',
      '0',
      '--no-apps',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' } },
  );
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`edgetwin up was not up within ${timeoutMs} ms:\n${out}`)),
        timeoutMs,
      );
      const check = () => {
        if (/Ctrl-C stops/.test(out)) {
          clearTimeout(timer);
          res();
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`edgetwin up exited with ${code}:\n${out}`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const controllerUrl = /controller API\s+(\S+)/.exec(out)?.[1];
  const consoleLink = /web console\s+(\S+)/.exec(out)?.[1];
  if (!controllerUrl || !consoleLink) throw new Error(`banner without the console link:\n${out}`);
  return { dir, controllerUrl, consoleLink, output: () => out, stop };
}

/** Where Chromium is: EDGETWIN_CHROMIUM, else Debian's /usr/bin/chromium (scripts/test-peers/50-chromium.sh). */
export function chromiumPath(): string {
  const path = process.env.EDGETWIN_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path))
    throw new Error(
      `Chromium not found at ${path}: run \`bash scripts/test-setup.sh\` (npm test runs it; it installs Debian's chromium) or set EDGETWIN_CHROMIUM`,
    );
  return path;
}

/**
 * One headless Chromium (about 400 MB and 0.3 s: one per test file, a new context per test). Every host
 * but the loopback ones is unresolvable, which also proves the console needs no internet.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
  });
}
