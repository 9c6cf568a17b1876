// Reads multi-document YAML the way kubectl does (YAML 1.1 scalars: unquoted on/off/yes/no are booleans,
// duplicate keys are errors) and keeps enough of the syntax tree to turn a field path back into
// file:line:column.

import {
  Composer,
  type DocumentOptions,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Node,
  type ParseOptions,
  Parser,
  parseDocument,
  type SchemaOptions,
} from 'yaml';
import type { FieldPath } from './finding.js';

export interface Position {
  line: number;
  column: number;
}

export interface SourceDoc {
  /** the document as plain data */
  value: unknown;
  /** 0-based index of the document in its file */
  index: number;
  /** where the document's content starts */
  start: Position;
  /** position of the value at `path` (or of its key with `atKey`); the deepest existing ancestor if absent */
  locate(path: FieldPath, atKey?: boolean): Position;
  /** the source text of the scalar at `path`, if it is one */
  sourceText(path: FieldPath): string | undefined;
}

export interface SyntaxProblem {
  position: Position;
  message: string;
  expected?: string;
  severity: 'error' | 'notice';
}

export interface ParsedYaml {
  docs: SourceDoc[];
  problems: SyntaxProblem[];
  /** documents that had content (parsed or not); 0 means the file holds no object at all */
  nonEmpty: number;
}

/** Alias expansion limit: a few aliases are normal in manifests, a billion laughs is not. */
const MAX_ALIAS_COUNT = 1000;

const HINTS: Record<string, string> = {
  DUPLICATE_KEY: 'expected each key once per mapping; kubectl refuses duplicates too',
  TAB_AS_INDENT: 'expected spaces for indentation; YAML forbids tabs there',
  BAD_INDENT: 'expected consistent indentation',
  MULTILINE_IMPLICIT_KEY: 'expected "key: value" on one line',
  BLOCK_AS_IMPLICIT_KEY: 'expected "key: value" on one line',
};

export function parseYaml(text: string): ParsedYaml {
  const pos = positions(text);
  const docs: SourceDoc[] = [];
  const problems: SyntaxProblem[] = [];
  let nonEmpty = 0;
  // Documents are composed one at a time and their syntax trees dropped once converted: a 5 MB stream of
  // small objects would otherwise keep every tree alive. A tree is rebuilt only to place a finding.
  const parser = new Parser();
  const composer = new Composer(OPTIONS);
  let index = -1;
  for (const doc of composer.compose(parser.parse(text), true)) {
    index++;
    if (doc.errors.length > 0) {
      nonEmpty++;
      // Only the first: later errors in a document are nearly always echoes of it (kubectl shows one too).
      const e = doc.errors[0]!;
      const hint = HINTS[e.code];
      problems.push({
        position: pos(e.pos[0]),
        message: `YAML syntax error: ${firstLine(e.message)}`,
        ...(hint !== undefined ? { expected: hint } : {}),
        severity: 'error',
      });
      continue;
    }
    for (const w of doc.warnings)
      problems.push({ position: pos(w.pos[0]), message: `YAML: ${firstLine(w.message)}`, severity: 'notice' });
    if (doc.contents === null) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      nonEmpty++;
      problems.push({
        position: pos(doc.contents.range?.[0] ?? 0),
        message: `YAML: ${firstLine((e as Error).message)}`,
        expected: `expected at most ${MAX_ALIAS_COUNT} alias expansions`,
        severity: 'error',
      });
      continue;
    }
    // An empty document (`---` followed by nothing) is skipped, as kubectl skips it.
    if (value === null || value === undefined) continue;
    nonEmpty++;
    const range = doc.range;
    docs.push(lazySourceDoc(text, range[0], range[2], value, index, pos(doc.contents.range?.[0] ?? range[0]), pos));
  }
  return { docs, problems, nonEmpty };
}

/**
 * YAML 1.1 as go-yaml v2 (kubectl's parser) resolves it: booleans on/off/yes/no/y/n, 0777 octal, 1_000. But
 * go-yaml has no base-60 numbers (12:30 stays a string) and timestamps reach the API server as strings,
 * so those two YAML 1.1 types are left out.
 */
const OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  prettyErrors: false,
  uniqueKeys: true,
  customTags: (tags) =>
    tags.filter(
      (t) =>
        typeof t === 'string' || !(t.tag === 'tag:yaml.org,2002:timestamp' || ('format' in t && t.format === 'TIME')),
    ),
};

/** Locates paths by re-parsing the document's own text on first use; most documents never need it. */
function lazySourceDoc(
  text: string,
  from: number,
  to: number,
  value: unknown,
  index: number,
  start: Position,
  pos: (o: number) => Position,
): SourceDoc {
  let tree: SourceDoc | undefined;
  const get = () => {
    tree ??= sourceDoc(parseDocument(text.slice(from, to), OPTIONS), value, index, (o) => pos(o + from));
    return tree;
  };
  return {
    value,
    index,
    start,
    locate: (path, atKey) => get().locate(path, atKey),
    sourceText: (path) => get().sourceText(path),
  };
}

/** Offset to 1-based line and column (columns count UTF-16 units, as editors mostly do). */
function positions(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    const o = Math.max(0, Math.min(offset, text.length));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: o - starts[lo]! + 1 };
  };
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.replace(/ at line \d+, column \d+:?$/, '').trim();
}

function sourceDoc(doc: Document, value: unknown, index: number, pos: (o: number) => Position): SourceDoc {
  const root = doc.contents as Node;
  const walk = (path: FieldPath, atKey: boolean): { offset: number; node: Node | undefined } => {
    let node: Node | undefined = root;
    let offset = root.range?.[0] ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (node !== undefined && isAlias(node)) node = node.resolve(doc) as Node | undefined;
      if (node !== undefined && isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(seg));
        if (pair === undefined) return { offset, node: undefined };
        const keyNode = pair.key as Node | null;
        const last = i === path.length - 1;
        const valueNode = pair.value as Node | null;
        if (last && atKey && keyNode?.range) return { offset: keyNode.range[0], node: valueNode ?? undefined };
        offset = valueNode?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
        node = valueNode ?? undefined;
      } else if (node !== undefined && isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (item === undefined) return { offset, node: undefined };
        offset = item.range?.[0] ?? offset;
        node = item;
      } else return { offset, node: undefined };
    }
    return { offset, node };
  };
  return {
    value,
    index,
    start: pos(root.range?.[0] ?? 0),
    locate: (path, atKey = false) => pos(walk(path, atKey).offset),
    sourceText(path) {
      const { node } = walk(path, false);
      return node !== undefined && isScalar(node) ? node.source?.toString() : undefined;
    },
  };
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}
