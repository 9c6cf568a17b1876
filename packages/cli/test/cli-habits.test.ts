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
});
