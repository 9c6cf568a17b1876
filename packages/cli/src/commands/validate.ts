// edgetwin validate -f <file|dir>...: checks Device/DeviceModel/DeviceStatus manifests as the API server
// would against our CRDs, plus the edgetwin checks across the set. Exit 0 valid, 1 invalid, 2 usage error.

import { readFileSync, statSync } from 'node:fs';
import {
  crdSetFromTexts,
  type CrdSet,
  formatFinding,
  listManifestFiles,
  type ManifestSource,
  ManifestFilesError,
  validateManifests,
} from '@edgetwin/api';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { RegisterCommand } from './index.js';

class UsageError extends Error {}

interface Options {
  filename: string[];
  output: string;
  convert?: boolean;
  crds?: string;
  namespace?: string;
}

/**
 * Files named on the command line are read whatever their extension; a directory contributes its *.yaml,
 * *.yml and *.json files at any depth (listManifestFiles), or only its own with `recursive: false`.
 */
function collectFiles(paths: string[], recursive: boolean): string[] {
  const out: string[] = [];
  for (const path of paths) {
    if (path === '-') {
      out.push(path);
      continue;
    }
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(
        `cannot read ${path}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      );
    }
    if (!st.isDirectory()) {
      out.push(path);
      continue;
    }
    try {
      out.push(...listManifestFiles(path, { recursive }));
    } catch (e) {
      if (e instanceof ManifestFilesError) throw new UsageError(e.message);
      throw e;
    }
  }
  return out;
}

/** Text that cannot be YAML at all (binary, or not UTF-8) is a usage error; anything else is parsed. */
function readManifest(file: string): ManifestSource {
  let buf: Buffer;
  try {
    buf = readFileSync(file === '-' ? 0 : file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new UsageError(`${file} is not YAML: binary content (a NUL byte at offset ${nul})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new UsageError(`${file} is not YAML: not UTF-8 text`);
  }
  return { file: file === '-' ? '<stdin>' : file, text: text.replace(/^\uFEFF/, '') };
}

function loadCrds(dir: string): CrdSet {
  const files = collectFiles([dir], false).map(readManifest);
  if (files.length === 0) throw new UsageError(`no CRD files (*.yaml) in ${dir}`);
  try {
    return crdSetFromTexts(files, dir);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function run(opts: Options): number {
  if (opts.output !== 'text' && opts.output !== 'json')
    throw new UsageError(`--output must be text or json, not "${opts.output}"`);
  const files = collectFiles(opts.filename, true);
  if (files.length === 0)
    throw new UsageError(
      `no manifest files (*.yaml, *.yml, *.json) in ${opts.filename.join(', ')} or any folder below it`,
    );
  const sources = files.map(readManifest);
  const crds = opts.crds !== undefined ? loadCrds(opts.crds) : undefined;
  const result = validateManifests(sources, {
    protocols: driverValidators,
    ...(crds !== undefined ? { crds } : {}),
    ...(opts.namespace !== undefined ? { defaultNamespace: opts.namespace } : {}),
  });
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  const notices = result.findings.length - errors;
  if (opts.output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ ok: result.ok, files: files.length, objects: result.objects.length, findings: result.findings }, null, 2)}\n`,
    );
  } else if (opts.convert) {
    for (const f of result.findings) process.stderr.write(`${formatFinding(f)}\n`);
    process.stdout.write(result.objects.map((o) => stringify(o.object)).join('---\n'));
  } else {
    const lines = result.findings.map(formatFinding);
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    process.stderr.write(
      `${result.ok ? 'valid' : 'invalid'}: ${errors} error(s), ${notices} notice(s); ${result.objects.length} valid object(s) in ${files.length} file(s)\n`,
    );
  }
  return result.ok ? 0 : 1;
}

export const registerValidate: RegisterCommand = (program: Command) => {
  program
    .command('validate')
    .description('check Device, DeviceModel and DeviceStatus manifests against the CRDs and each other')
    .requiredOption(
      '-f, --filename <paths...>',
      'files or directories of YAML manifests (with their subfolders), validated together; - for stdin',
    )
    .option('-n, --namespace <name>', 'namespace of objects that name none (as kubectl -n)', 'default')
    .option('-R, --recursive', 'accepted for kubectl habits: directories are always read with their subfolders')
    .option('-o, --output <format>', 'text (one line per finding) or json', 'text')
    .option('--convert', 'print the valid objects as the API server would store them (v1alpha2 converted to v1beta1)')
    .option('--crds <dir>', "validate against the CRDs in this directory instead of edgetwin's")
    .addHelpText(
      'after',
      '\nExit status: 0 all valid (notices allowed), 1 something is invalid, 2 usage error (missing file, not YAML).\n' +
        'Each finding: file:line:column: kind/namespace/name: field.path: what is wrong (what was expected)',
    )
    .action((opts: Options) => {
      try {
        process.exitCode = run(opts);
      } catch (e) {
        if (e instanceof UsageError) {
          process.stderr.write(`edgetwin validate: ${e.message}\n`);
          process.exitCode = 2;
        } else {
          process.stderr.write(`edgetwin validate: internal error: ${(e as Error).message}\n`);
          process.exitCode = 1;
        }
      }
    });
};
