// Parsing helpers for command options; a bad value is a usage error (exit 2) that names the option.
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
