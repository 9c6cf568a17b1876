// One problem (or notice) found in a manifest, and its one-line rendering:
//   file:line:column: kind/namespace/name: field.path: what is wrong (what was expected)

export type Severity = 'error' | 'notice';

export interface Finding {
  /** file the object came from ('' when validating objects that have no file) */
  file: string;
  /** 1-based; 0 when unknown */
  line: number;
  /** 1-based; 0 when unknown */
  column: number;
  /** object identity; '-' when it could not be read */
  kind: string;
  namespace: string;
  name: string;
  /** field path in kubectl's notation (`spec.properties[0].name`); '-' for the whole file or object */
  path: string;
  message: string;
  /** what was expected, printed in parentheses after the message */
  expected?: string;
  severity: Severity;
}

/** Field path as a list of keys and array indices. */
export type PathSegment = string | number;
export type FieldPath = readonly PathSegment[];

/** `spec.properties[0].name`, as the API server and kubectl print field paths. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out === '' ? '-' : out;
}

export function formatFinding(f: Finding): string {
  const where = f.file === '' ? '' : `${f.file}:${f.line}:${f.column}: `;
  const notice = f.severity === 'notice' ? 'notice: ' : '';
  const expected = f.expected === undefined ? '' : ` (${f.expected})`;
  return `${where}${f.kind}/${f.namespace}/${f.name}: ${f.path}: ${notice}${f.message}${expected}`;
}

/** Orders findings by file, then position, so output is stable whatever order checks ran in. */
export function compareFindings(a: Finding, b: Finding): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.column - b.column;
}

/** Renders a value the way the API server quotes an invalid one: JSON, clipped. */
export function quoteValue(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
