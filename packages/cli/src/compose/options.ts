// Parsing helpers for command options; a bad value is a usage error (exit 2) that names the option.
import { readFileSync } from 'node:fs';
import { readSecretFile } from '@edgetwin/api/secret-file';
import { InvalidArgumentError } from 'commander';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`"${value}" is not a TCP port (0-65535)`);
  return n;
}

export function parseNodeName(value: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value))
    throw new InvalidArgumentError(`"${value}" is not a valid node name (lower-case letters, digits, '-' and '.')`);
  return value;
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The members of a broker cluster: `URL[,URL...]`, and the option may be repeated (each adds its URLs).
 * Each must be mqtt:// or mqtts://.
 */
export function parseUrlList(value: string, previous: string[] | undefined): string[] {
  const urls = parseList(value);
  if (urls.length === 0) throw new InvalidArgumentError('no broker URL given');
  for (const u of urls)
    if (!/^mqtts?:\/\/[^/\s]+/.test(u))
      throw new InvalidArgumentError(`"${u}" is not a broker URL (mqtt://HOST:PORT or mqtts://HOST:PORT)`);
  return [...(previous ?? []), ...urls];
}

/** A duration in seconds (decimals allowed), above 0; returned in ms. */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0))
    throw new InvalidArgumentError(`"${value}" is not a number of seconds above 0`);
  return Math.round(n * 1000);
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1024 ** 2,
};

/** A size in bytes: `786432`, `768KiB`, `1MiB` (K/KB/KiB and M/MB/MiB are all binary units). */
export function parseBytes(value: string): number {
  const m = /^(\d+)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) === 0)
    throw new InvalidArgumentError(`"${value}" is not a size in bytes (e.g. 786432, 768KiB, 1MiB)`);
  return Number(m[1]) * unit;
}

/**
 * A secret from its file option, else its environment variable (never from a flag, issue 10 §5), and an
 * optional PEM file; a file that cannot be read, or is readable by every user, is a usage error.
 */
export function readSecrets<K extends string>(
  specs: Record<K, { file?: string; env?: string; what: string; secret?: boolean }>,
  fail: (message: string) => never,
): Record<K, string | undefined> {
  const out = {} as Record<K, string | undefined>;
  try {
    for (const [key, s] of Object.entries(specs) as Array<
      [K, { file?: string; env?: string; what: string; secret?: boolean }]
    >) {
      if (s.file) out[key] = s.secret === false ? readFileSync(s.file, 'utf8') : readSecretFile(s.file, s.what);
      else out[key] = (s.env ? process.env[s.env] : undefined) || undefined;
    }
  } catch (e) {
    fail((e as Error).message);
  }
  return out;
}
