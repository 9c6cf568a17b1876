// One object on its way through validation: where it came from, who it is, what was found.

import type { FieldPath, Finding, Severity } from './finding.js';
import { formatPath } from './finding.js';
import type { Position } from './yaml-source.js';

export interface Candidate {
  value: unknown;
  file: string;
  start: Position;
  locate(path: FieldPath, atKey?: boolean): Position;
  sourceText(path: FieldPath): string | undefined;
}

export interface Entry {
  candidate: Candidate;
  kind: string;
  namespace: string;
  name: string;
  object?: Record<string, unknown>;
  findings: Finding[];
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function hasErrors(e: Entry): boolean {
  return e.findings.some((f) => f.severity === 'error');
}

export function toFinding(
  e: Entry,
  p: { path: FieldPath; message: string; expected?: string; atKey?: boolean },
  severity: Severity,
): Finding {
  const at = p.path.length === 0 ? e.candidate.start : e.candidate.locate(p.path, p.atKey);
  const f: Finding = {
    file: e.candidate.file,
    line: at.line,
    column: at.column,
    kind: e.kind,
    namespace: e.namespace,
    name: e.name,
    path: formatPath(p.path),
    message: p.message,
    severity,
  };
  if (p.expected !== undefined) f.expected = p.expected;
  return f;
}
