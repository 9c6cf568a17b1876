// Where the third-party test peers live (DESIGN.md decision 9): the project-local .venv for Python
// peers and the binary cache for built ones, both filled by `bash scripts/test-setup.sh` (which
// `npm test` runs first). A missing peer is a clear error naming that command, never a silent skip.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/simulators/src/peers.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where built peer binaries are cached (outside the repo). */
export function peerCacheDir(): string {
  return process.env.EDGETWIN_PEER_CACHE ?? join(homedir(), '.cache', 'edgetwin-peers');
}

function missing(what: string, path: string): Error {
  return new Error(
    `test peer ${what} not found at ${path}: run \`bash scripts/test-setup.sh\` (npm test runs it first)`,
  );
}

/** The Python interpreter of the project's pinned virtualenv. */
export function venvPython(): string {
  const py = join(repoRoot, '.venv', 'bin', 'python');
  if (!existsSync(py)) throw missing('virtualenv', py);
  return py;
}

/** A binary built by a test-peers step: `$EDGETWIN_PEER_CACHE/bin/NAME-VERSION`. */
export function peerBinary(name: string, version: string): string {
  const bin = join(peerCacheDir(), 'bin', `${name}-${version}`);
  if (!existsSync(bin)) throw missing(`${name} ${version}`, bin);
  return bin;
}
