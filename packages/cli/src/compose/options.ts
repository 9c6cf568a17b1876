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
