// The live view of `edgetwin up` in a real pseudo-terminal (issue 16 §2), read back through a terminal
// emulator (@xterm/headless) as a user's screen: under a stream of warnings (a Modbus device whose gateway
// hangs up on every connection, applied while up runs, and refused writes) the screen keeps one line per device
// and no log text, the new device appears, a refused write shows its reason, and Ctrl-C says what it stopped.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import xterm from '@xterm/headless';
import { afterAll, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/edgetwin.js');
const LED = resolve(import.meta.dirname, '../../../examples/led-raspberrypi/manifests');
const COLS = 120;
const ROWS = 30;

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-view-'));
let up: ChildProcess | undefined;
afterAll(() => {
  if (up && up.exitCode === null) up.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A Modbus gateway that accepts and hangs up at once: the mapper loses the device, reconnects, loses it... */
async function flappingGateway(): Promise<{ port: number; close(): Promise<void> }> {
  const s = createServer((sock) => {
    sock.on('error', () => {});
    sock.destroy();
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return {
    port: (s.address() as { port: number }).port,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, EDGETWIN_LOG_LEVEL: 'silent' };
  for (const k of ['EDGETWIN_SERVER', 'EDGETWIN_TOKEN', 'EDGETWIN_TOKEN_FILE', 'EDGETWIN_CONFIG']) delete env[k];
  return new Promise((res) =>
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env, timeout: 60_000 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    ),
  );
}

let raw = '';
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    // up gone (a busy port, a crash): say so at once, with what it printed
    if (up && up.exitCode !== null) throw new Error(`up exited (${up.exitCode}) before ${what}: ${raw.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; up printed: ${raw.slice(-3000)}`);
    // polls the condition (screen or file), not a fixed sleep
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('keeps the screen clean under a stream of warnings, follows the store, and shows a refused write', {
  timeout: 240_000,
}, async () => {
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  cpSync(LED, manifests, { recursive: true });
  const term = new xterm.Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true });
  // `script` gives up a pseudo-terminal of a fixed size, as a user's terminal is
  const cmd = [
    `stty cols ${COLS} rows ${ROWS};`,
    'exec',
    JSON.stringify(process.execPath),
    JSON.stringify(BIN),
    // every port free: another test's `up` may run at the same time (the REST API's 7777 clashed in CI)
    'up --manifests manifests --port 0 --cloud-port 0 --http-port 0 --rest-port 0 --no-apps',
  ].join(' ');
  up = spawn('script', ['-qfec', cmd, '/dev/null'], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'info', TERM: 'xterm-256color' },
  });
  up.stdout!.on('data', (b: Buffer) => {
    raw += b.toString();
    term.write(b);
  });
  up.stderr!.on('data', (b: Buffer) => (raw += b.toString()));
  const screen = () => {
    const b = term.buffer.active;
    const lines: string[] = [];
    for (let i = b.viewportY; i < b.viewportY + ROWS; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines;
  };
  const onScreen = (re: RegExp) => screen().filter((l) => re.test(l)).length;

  await until(() => /Ctrl-C stops/.test(raw), 'the banner');
  const logFile = /logs\s+(\S+)/.exec(raw)?.[1];
  expect(logFile).toBe(join('.edgetwin', 'up.log'));
  await until(() => onScreen(/default\/led-light-instance-01/) === 1, 'the LED on screen');

  // a device applied while up runs, whose gateway hangs up: the mapper warns on every reconnect
  const gateway = await flappingGateway();
  const port = gateway.port;
  writeFileSync(
    join(dir, 'bay.yaml'),
    readFileSync(
      resolve(import.meta.dirname, '../../../examples/parking/manifests/parking-sensor-model.yaml'),
      'utf8',
    ) +
      '\n---\n' +
      readFileSync(resolve(import.meta.dirname, '../../../examples/parking/manifests/parking-bay-01.yaml'), 'utf8')
        .replace('name: parking-bay-01', 'name: bay-nowhere')
        .replace('port: "5502"', `port: "${port}"`)
        .replace(/collectCycle: \d+/g, 'collectCycle: 100'),
  );
  const applied = await cli('apply', '-f', 'bay.yaml');
  expect(applied.out).toContain('device.devices.kubeedge.io/bay-nowhere created');
  await until(() => onScreen(/default\/bay-nowhere/) === 1, 'the applied device on screen');

  const warningLines = () =>
    readFileSync(join(dir, logFile!), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"level":40'));
  const warnings = () => warningLines().length;
  // the gateway's warnings come on the mapper's reconnect backoff (0.5 s doubling to 30 s) and repeat only when
  // the error changes, so how many come in a minute is luck, not a bound (waiting for five of them, and then
  // for one more within 120 s, timed out under the whole suite's load); the first one shows the flapping began
  await until(() => warnings() >= 1, 'the gateway’s first warning in the log file');

  // the test's own warnings, each at once: a write the GPIO mapper refuses is logged as a warning, and shows as a
  // failure with its reason, not as a command in flight forever; the view redraws between one warning and the next
  for (const bad of ['BLINK', 'DIM', 'FLASH', 'PULSE']) {
    expect((await cli('twin', 'set', 'led-light-instance-01', `power-status=${bad}`)).code).toBe(0);
    await until(() => onScreen(new RegExp(`✗ power-status=${bad}: `)) === 1, `the refused write ${bad} on screen`);
    await until(
      () => warningLines().some((l) => l.includes(`"desired":"${bad}"`)),
      `the refused write ${bad} logged as a warning`,
    );
  }
  expect(warnings()).toBeGreaterThanOrEqual(5);
  await gateway.close();
  const lines = screen();
  // one line per device, sorted; nothing of the logs
  expect(
    lines.filter((l) => l.includes('default/')),
    lines.join('\n'),
  ).toHaveLength(2);
  expect(lines.findIndex((l) => l.includes('default/bay-nowhere'))).toBeLessThan(
    lines.findIndex((l) => l.includes('default/led-light-instance-01')),
  );
  expect(lines.join('\n')).not.toMatch(/"level"|WARN|ECONNREFUSED|EHOSTUNREACH|Error/);
  // every line fits the terminal: a wrapped line would break the redraw
  for (const l of lines) expect(l.length).toBeLessThanOrEqual(COLS);

  // Ctrl-C, typed into the terminal
  const exited = new Promise<number | null>((r) => up!.once('exit', (code) => r(code)));
  up.stdin!.write('\x03');
  expect(await exited).toBe(0);
  expect(raw).toMatch(/stopped: live view, .*controller/);
});
