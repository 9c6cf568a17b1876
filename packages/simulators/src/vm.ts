// The real-kernel test VM from TypeScript (issue 18): runs one command inside QEMU with Debian's kernel
// (scripts/vm/run.sh; built by scripts/vm/build.sh, which `bash scripts/test-setup.sh` runs) in the
// project's working dir, and returns its exit code and output. One boot costs ~20 s without KVM, so a
// test boots once and runs a whole tier inside (scripts/vm/hardware-tier.sh).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './peers.js';

export interface VmResult {
  /** the command's exit code inside the VM */
  code: number;
  /** the command's stdout and stderr, interleaved */
  output: string;
  /** the runner's own messages (boot failures, the console's tail) */
  runner: string;
  seconds: number;
}

export interface VmOptions {
  /** working dir inside the VM (the same path as on the host); default the repo root */
  cwd?: string;
  /** a host dir the VM can write, at the same path inside (results); default none kept */
  outDir?: string;
  /** host environment variables passed into the VM, by name */
  env?: string[];
  timeoutMs?: number;
}

/** Exit codes of scripts/vm/run.sh that are the runner's, not the command's. */
const NOT_BUILT = 3;
const DID_NOT_FINISH = 125;

export async function runInVm(command: string[], opts: VmOptions = {}): Promise<VmResult> {
  const args = [
    join(repoRoot, 'scripts/vm/run.sh'),
    '--timeout',
    String(Math.ceil((opts.timeoutMs ?? 900_000) / 1000)),
  ];
  if (opts.outDir) args.push('--out', opts.outDir);
  for (const e of opts.env ?? []) args.push('--env', e);
  args.push('--', ...command);
  const started = Date.now();
  const child = spawn('bash', args, { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let runner = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    runner += d;
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code === NOT_BUILT) throw new Error(`test VM unavailable: ${runner.trim()}`);
  if (code === DID_NOT_FINISH) throw new Error(`test VM: ${runner.trim()}`);
  return { code, output, runner, seconds: (Date.now() - started) / 1000 };
}
