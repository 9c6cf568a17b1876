// `edgetwin simulate` as a user runs it: a real process serving the temperature sample's registers.
import { type ChildProcess, spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import M from 'modbus-serial';
import { afterEach, expect, it } from 'vitest';
import { SAMPLES } from '../../api/test/support/samples.js';

const CLI = join(process.cwd(), 'packages/cli/bin/edgetwin.js');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function run(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // each wait looks at output after the previous match
  let from = 0;
  const output = (re: RegExp, timeoutMs = 15_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${re} in output within ${timeoutMs} ms: ${out}${err}`)),
        timeoutMs,
      );
      const check = () => {
        const m = out.slice(from).match(re);
        if (!m) return;
        clearTimeout(timer);
        child.stdout.off('data', check);
        from += (m.index ?? 0) + m[0].length;
        resolve(m);
      };
      child.stdout.on('data', check);
      check();
    });
  const type = (line: string) => child.stdin.write(`${line}\n`);
  return { child, exited, output, type, stderr: () => err };
}

it('serves the temperature-sensor-demo device, prints its registers, and stops on Ctrl-C', async () => {
  const p = run(['simulate', '-f', SAMPLES, '--port', '0', '--static']);
  const m = await p.output(/listening on tcp 127\.0\.0\.1:(\d+) \(1 device\)[\s\S]*Ctrl-C to stop\n/);
  const out = m[0];
  expect(out).toMatch(/default\/temperature-instance\s+1\s+temperature\s+holding\s+0\s+uint16\s+0\.1\s+50/);
  expect(out).toMatch(/temperature-switch\s+coil\s+0\s+boolean\s+true/);

  const client = new M.default();
  client.on('error', () => {});
  await client.connectTCP('127.0.0.1', { port: Number(m[1]) });
  client.setID(1);
  client.setTimeout(2000);
  expect((await client.readHoldingRegisters(0, 1)).data).toEqual([500]);
  expect((await client.readCoils(0, 1)).data[0]).toBe(true);

  // typed commands drive the device during a demo
  p.type('set temperature-instance temperature 23.4');
  await p.output(/default\/temperature-instance temperature = 23\.4/);
  expect((await client.readHoldingRegisters(0, 1)).data).toEqual([234]);
  p.type('fault temperature-instance exception');
  await p.output(/default\/temperature-instance: exception/);
  await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 4 });
  p.type('set nosuch temperature 1');
  await p.output(/no device nosuch \(have default\/temperature-instance\)/);
  await new Promise<void>((r) => client.close(() => r()));

  p.child.kill('SIGINT');
  expect(await p.exited).toBe(0);
});

it('--ble starts the emulated BLE peripherals, drives them from typed commands, and removes its PTY on Ctrl-C', async () => {
  const pty = join(tmpdir(), `edgetwin-simulate-ble-${process.pid}.pty`);
  const p = run(['simulate', '--ble', '--ble-pty', pty]);
  const m = await p.output(/BLE peripherals on the emulated adapter uart:(\S+)[\s\S]*Commands: ble/, 30_000);
  expect(m[1]).toBe(pty);
  expect(m[0]).toMatch(/lamp\s+F2:ED:00:00:00:02\s+random/);
  expect(m[0]).toContain(`EDGETWIN_BLE_ADAPTER=uart:${pty} npx edgetwin mapper bluetooth`);
  expect(lstatSync(pty).isSymbolicLink()).toBe(true);
  p.type('ble set lamp power 1');
  await p.output(/lamp power set/);
  p.type('ble get lamp power');
  await p.output(/lamp power = 1/);
  p.type('ble get lamp colour');
  await p.output(/error: .*colour/);
  p.child.kill('SIGINT');
  expect(await p.exited).toBe(0);
  expect(() => lstatSync(pty)).toThrow(); // the symlink itself is gone, not just its target
});

it('names the file it cannot read and exits non-zero', async () => {
  const p = run(['simulate', '-f', '/nonexistent/parking.yaml']);
  expect(await p.exited).toBe(1);
  expect(p.stderr()).toMatch(/\/nonexistent\/parking\.yaml:0: cannot read/);
});
