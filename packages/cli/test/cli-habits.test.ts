// The CLI habits users bring from kubectl (issue 16 §3), spawned as a user types them against a controller
// started here: --version, shell completion, usage errors exiting 2, a `twin set` hint with a value of the
// property's type.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type RunningController, startController } from '@edgetwin/device-controller';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/edgetwin.js');
const LED = resolve(import.meta.dirname, '../../../examples/led-raspberrypi/manifests');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function edgetwin(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Run> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, EDGETWIN_LOG_LEVEL: 'silent', ...env }, timeout: 60_000, ...(cwd ? { cwd } : {}) },
      (err, stdout, stderr) => res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('CLI habits', { timeout: 120_000 }, () => {
  let ctl: RunningController;
  let dir: string;
  const run = (...args: string[]) => edgetwin(args, { EDGETWIN_SERVER: ctl.url, EDGETWIN_TOKEN: ctl.apiToken });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-habits-'));
    ctl = await startController({ source: 'embedded', dbPath: join(dir, 'c.db'), httpPort: 0 });
  });
  afterAll(async () => {
    await ctl?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints its version, completes in bash, and exits 2 on usage mistakes found inside a command', async () => {
    const [version, bash, zsh, fish, example] = await Promise.all([
      edgetwin(['--version']),
      edgetwin(['completion', 'bash']),
      edgetwin(['completion', 'zsh']),
      edgetwin(['completion', 'fish']),
      edgetwin(['up', '--example', 'nope'], {}, dir),
    ]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -F _edgetwin edgetwin');
    expect(zsh.stdout).toContain('bashcompinit');
    expect(fish.code).toBe(2);
    expect(fish.stderr).toContain('unknown shell (expected bash or zsh)');
    expect(example.code).toBe(2);
    expect(example.stderr).toMatch(/unknown example "nope" \(known: .*led-raspberrypi/);

    // the script completes what a user types: kinds after `get`, flags of `twin set`
    const complete = (words: string[]) =>
      new Promise<string>((res, rej) =>
        execFile(
          'bash',
          [
            '-c',
            `source /dev/stdin <<'EOS'\n${bash.stdout}\nEOS\nCOMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; _edgetwin; echo "\${COMPREPLY[@]}"`,
          ],
          (err, out) => (err ? rej(err) : res(out.trim())),
        ),
      );
    expect((await complete(['edgetwin', 'get', 'dev'])).split(' ')).toEqual(['devices', 'devicemodels']);
    expect((await complete(['edgetwin', 'twin', 'set', 'x', '--na'])).split(' ')).toEqual(['--namespace']);
    expect((await complete(['edgetwin', 'comp'])).split(' ')).toEqual(['completion']);
  });

  it('twin set without a value hints with a value of the property type', async () => {
    expect((await run('apply', '-f', LED)).code).toBe(0);
    const bare = await run('twin', 'set', 'led-light-instance-01', 'power-status');
    expect(bare.code).toBe(2);
    // a STRING lamp is hinted with its own kind of value, not `setpoint=21.5`
    expect(bare.stderr).toContain('expected PROPERTY=VALUE (e.g. power-status=');
    expect(bare.stderr).toContain('a STRING)');
    expect(bare.stderr).not.toContain('setpoint');
  });

  it('get history, describe node and devicemodel with events, get devices -w following changes', async () => {
    expect((await run('apply', '-f', LED)).code).toBe(0);
    const id = 'default/led-light-instance-01';
    const t0 = Date.now() - 2000;
    await ctl.status.applyReports('edge-node-1', [
      {
        kind: 'twin',
        deviceId: id,
        seq: 1,
        timestamp: t0,
        twins: [{ property: 'power-status', reported: { value: '1', timestamp: t0, type: 'string' } }],
      },
      {
        kind: 'write',
        deviceId: id,
        seq: 2,
        timestamp: t0,
        status: { property: 'power-status', desired: 'BLINK', state: 'failed', reason: 'not ON or OFF', timestamp: t0 },
      },
    ]);
    ctl.status.setNodePresence('edge-node-1', 'online', new Date());
    // the watch prints the table, then a line for the change made while it runs
    const watch = execFile(process.execPath, [BIN, 'get', 'devices', '-w'], {
      env: { ...process.env, EDGETWIN_SERVER: ctl.url, EDGETWIN_TOKEN: ctl.apiToken },
    });
    let watched = '';
    watch.stdout!.on('data', (b) => (watched += b));
    const [history, node, dm] = await Promise.all([
      run('get', 'history', 'led-light-instance-01', '--since', '10m'),
      run('describe', 'node', 'edge-node-1'),
      run('describe', 'devicemodel', 'led-light'),
    ]);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/^TIME\s+PROPERTY\s+VALUE\n\S+Z\s+power-status\s+1$/m);
    expect(node.stdout).toMatch(/Presence:\s+online/);
    expect(node.stdout).toMatch(/led-light-instance-01/);
    expect(node.stdout).toMatch(/Normal\s+NodeOnline/);
    expect(node.stdout).toMatch(/Warning\s+WriteFailed\s+.*power-status=BLINK: not ON or OFF/);
    expect(dm.stdout).toMatch(/power-status\s+STRING\s+ReadWrite/);
    expect(dm.stdout).toMatch(/Warning\s+WriteFailed/);
    await waitFor(() => /NAME[\s\S]*led-light-instance-01/.test(watched), 'the table of get -w');
    const before = watched.split('\n').length;
    await ctl.status.applyReports('edge-node-1', [
      { kind: 'state', deviceId: id, state: 'offline', lastOnlineTime: new Date().toISOString(), seq: 3, timestamp: 3 },
    ]);
    await waitFor(
      () => /led-light-instance-01\s+led-light\s+edge-node-1\s+offline/.test(watched),
      'the change on get -w',
    );
    expect(watched.split('\n').length).toBeGreaterThan(before);
    watch.kill('SIGINT');
  });
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // polls the condition, not a fixed sleep
    await new Promise((r) => setTimeout(r, 20));
  }
}
