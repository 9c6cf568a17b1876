// The shape of a protocol driver's config check (issue 11, "one home for protocol config"). Each driver
// parses its protocol and visitor configData in one `config.ts` in its own folder (packages/mappers); the
// problems it finds are ConfigIssues: which property (or the device's protocol config), which key, what is
// wrong. `edgetwin validate` and `apply` turn them into file:line:col findings, the running mapper into
// the device's error. api imports nothing of ours, so it only defines the shape: whoever composes the
// validator (the CLI, the controller it starts) hands in a ProtocolValidators registry.

import type { ConfigData } from './types.js';
import type { ResolvedDevice } from './resolve.js';

export interface ConfigIssue {
  /** the property whose visitor configData is at fault; absent: the device's protocol configData */
  property?: string;
  /** the configData key at fault; absent: the configData as a whole */
  key?: string;
  /** what is wrong, without the property or key (they are printed before it) */
  message: string;
  /** default error: the device would not work; a notice is shown but accepted */
  severity?: 'error' | 'notice';
}

export type ConfigParse<T> = { ok: true; value: T; notices: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

/** Checks one device (merged with its model) for one protocol; returns every problem, none when it is fine. */
export type ProtocolValidator = (device: ResolvedDevice) => ConfigIssue[];

/** Validators by protocol name in lower case (`modbus`, `opcua`, `virtualprotocol`...). */
export type ProtocolValidators = Readonly<Record<string, ProtocolValidator>>;

/** One line: `property temperature: register "HoldingRegisters" is not one of ...` or `protocol port ...`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.property !== undefined ? `property ${issue.property}: ` : 'protocol ';
  return `${where}${issue.key !== undefined ? `${issue.key} ` : ''}${issue.message}`;
}

/** A parse result's issues: its notices when it parsed, its problems when it did not. */
export function issuesOf(r: ConfigParse<unknown>): ConfigIssue[] {
  return r.ok ? r.notices : r.issues;
}

/**
 * The usual `validate<P>Device` of a driver's config.ts: the protocol config, then each property's visitor.
 * Drivers with checks across properties add theirs to the result.
 */
export function deviceConfigIssues(
  device: ResolvedDevice,
  protocol: (config: ConfigData) => ConfigParse<unknown>,
  visitor: (property: ResolvedDevice['properties'][number]) => ConfigParse<unknown>,
): ConfigIssue[] {
  return [...issuesOf(protocol(device.protocolConfig)), ...device.properties.flatMap((p) => issuesOf(visitor(p)))];
}

/** The errors among issues (notices dropped). */
export function configErrors(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.filter((i) => i.severity !== 'notice');
}

/**
 * Typed reading of one configData map, collecting issues instead of throwing, so a driver's config.ts
 * reports every problem of a manifest at once. `''` and null count as absent (KubeEdge writes empty strings).
 */
export class ConfigReader {
  readonly issues: ConfigIssue[] = [];

  constructor(
    readonly data: ConfigData,
    readonly property?: string,
  ) {}

  problem(key: string | undefined, message: string, severity: 'error' | 'notice' = 'error'): void {
    const issue: ConfigIssue = { message };
    if (this.property !== undefined) issue.property = this.property;
    if (key !== undefined) issue.key = key;
    if (severity === 'notice') issue.severity = 'notice';
    this.issues.push(issue);
  }

  has(key: string): boolean {
    const v = this.data[key];
    return v !== undefined && v !== null && v !== '';
  }

  get ok(): boolean {
    return configErrors(this.issues).length === 0;
  }

  /** The parse result: the value when no error was found, else the issues. */
  result<T>(value: () => T): ConfigParse<T> {
    if (!this.ok) return { ok: false, issues: this.issues };
    return { ok: true, value: value(), notices: this.issues };
  }

  string(key: string, dflt: string): string;
  string(key: string): string | undefined;
  string(key: string, dflt?: string): string | undefined {
    if (!this.has(key)) return dflt;
    const v = this.data[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.problem(key, `${JSON.stringify(v)} is not a string`);
    return dflt;
  }

  /** An integer (a number or digits in a string) within [min, max]. */
  int(key: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (!this.has(key)) return dflt;
    const raw = this.data[key];
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n)) {
      this.problem(key, `${JSON.stringify(raw)} is not ${min >= 0 ? 'a non-negative integer' : 'an integer'}`);
      return dflt;
    }
    if (n < min || n > max) {
      this.problem(
        key,
        min === 0 && max === Number.MAX_SAFE_INTEGER
          ? `${JSON.stringify(raw)} is not a non-negative integer`
          : `${n} is not within ${min}..${max}`,
      );
      return dflt;
    }
    return n;
  }

  /** A finite number (or a numeric string). */
  number(key: string, dflt: number): number;
  number(key: string): number | undefined;
  number(key: string, dflt?: number): number | undefined {
    if (!this.has(key)) return dflt;
    const raw = this.data[key];
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n)) {
      this.problem(key, `${JSON.stringify(raw)} is not a number`);
      return dflt;
    }
    return n;
  }

  bool(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const raw = this.data[key];
    if (raw === true || raw === 'true' || raw === 1) return true;
    if (raw === false || raw === 'false' || raw === 0) return false;
    this.problem(key, `${JSON.stringify(raw)} is not true or false`);
    return dflt;
  }

  /** One of `values` (compared case-insensitively, returned as spelled in `values`). */
  oneOf<T extends string>(key: string, values: readonly T[], dflt: T): T;
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined;
  oneOf<T extends string>(key: string, values: readonly T[], dflt?: T): T | undefined {
    if (!this.has(key)) return dflt;
    const raw = String(this.data[key]);
    const hit = values.find((v) => v.toLowerCase() === raw.toLowerCase());
    if (hit !== undefined) return hit;
    this.problem(key, `"${raw}" is not one of ${values.join(', ')}`);
    return dflt;
  }
}
