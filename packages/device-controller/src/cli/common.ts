// What the controller-facing CLI commands (apply, delete, get, describe, twin) share: where the
// controller is, how manifest files are read, and how failures are printed.

import { readFileSync, statSync } from 'node:fs';
// the module, not the package index: the index pulls in the validators (ajv, yaml), which a client call
// (`get`, `twin set`, `describe`) never runs; they run on the controller (issue 15, target 4)
import { listManifestFiles, ManifestFilesError } from '@edgetwin/api/validate/manifest-files';
import type { Command } from 'commander';
import type { ManifestFile } from '../http/check-manifests.js';
import { ControllerClient, ControllerError } from '../http/client.js';
import { resolveConnection } from './client-config.js';

/** Adds --server and --data-dir, which every controller-facing command takes (docs/security.md). */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'controller HTTP API URL (env EDGETWIN_SERVER; default: from the client file)')
    .option(
      '--data-dir <dir>',
      'data dir of the controller on this machine; its client.json holds the API URL and token (env EDGETWIN_DATA_DIR; default .edgetwin)',
    );
}

/** A client of the controller the options and environment name, with the API token found for it. */
export function controllerClient(opts: { server?: string; dataDir?: string }): ControllerClient {
  const c = resolveConnection(opts);
  return new ControllerClient(c.server, {
    ...(c.token ? { token: c.token } : {}),
    ...(c.tokenFrom ? { tokenFrom: c.tokenFrom } : {}),
    ...(c.noTokenBecause ? { noTokenBecause: c.noTokenBecause } : {}),
  });
}

/** A usage mistake: the command prints it and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Reads the files named by -f: a file, a directory (its .yaml/.yml/.json files, subfolders included, as
 * validate reads them: listManifestFiles) or `-` for stdin. File names are kept as given so the controller's findings point into them.
 */
export function readManifests(paths: string[], stdin: () => string = () => readFileSync(0, 'utf8')): ManifestFile[] {
  const out: ManifestFile[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ file: '<stdin>', text: stdin() });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      throw new UsageError(
        `-f ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      );
    }
    if (isDir) {
      let files: string[];
      try {
        files = listManifestFiles(p);
      } catch (e) {
        if (e instanceof ManifestFilesError) throw new UsageError(`-f ${p}: ${e.message}`);
        throw e;
      }
      if (files.length === 0)
        throw new UsageError(`-f ${p}: the directory and its subfolders hold no .yaml, .yml or .json file`);
      for (const f of files) out.push({ file: f, text: readFileSync(f, 'utf8') });
    } else {
      out.push({ file: p, text: readFileSync(p, 'utf8') });
    }
  }
  return out;
}

/**
 * Prints a failure the way a user can act on it: the controller's finding lines as they are, a usage
 * error with a hint. Returns the exit code (2 usage, 1 anything else).
 */
export function reportFailure(e: unknown, write: (line: string) => void = (l) => console.error(l)): number {
  if (e instanceof UsageError) {
    write(`edgetwin: ${e.message}`);
    return 2;
  }
  if (e instanceof ControllerError) {
    for (const line of e.findings) write(line);
    return 1;
  }
  write(`edgetwin: ${(e as Error)?.message ?? String(e)}`);
  return 1;
}

/** Runs a command body; on failure prints it and sets the exit code (so open handles still close). */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    process.exitCode = reportFailure(e);
  }
}

export type OutputFormat = 'table' | 'json' | 'yaml' | 'wide';

export function outputFormat(
  value: string | undefined,
  allowed: OutputFormat[] = ['table', 'wide', 'json', 'yaml'],
): OutputFormat {
  const v = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(v)) throw new UsageError(`-o ${value}: unknown output format (expected ${allowed.join(', ')})`);
  return v;
}

/**
 * YAML.stringify for -o yaml, loaded only when that format is asked for: the yaml package costs a client
 * call (`get`, `describe`) ~25 ms of start-up otherwise (issue 15, target 4). Other formats get a function
 * that is never meant to run.
 */
export async function yamlPrinter(format: OutputFormat): Promise<(v: unknown) => string> {
  if (format !== 'yaml')
    return () => {
      throw new Error(`yaml printer used for -o ${format}`);
    };
  const { default: YAML } = await import('yaml');
  return (v) => YAML.stringify(v);
}

/** `ns/name` or `name` (+ -n namespace). */
export function parseName(arg: string, namespace: string | undefined): { namespace: string; name: string } {
  const slash = arg.indexOf('/');
  if (slash >= 0) {
    const ns = arg.slice(0, slash);
    const name = arg.slice(slash + 1);
    if (!ns || !name || name.includes('/')) throw new UsageError(`"${arg}": expected NAME or NAMESPACE/NAME`);
    return { namespace: ns, name };
  }
  if (!arg) throw new UsageError('expected a device name');
  return { namespace: namespace || 'default', name: arg };
}
