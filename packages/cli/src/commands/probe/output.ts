// What every `edgetwin probe <protocol>` prints with (issue 11, probe as a dispatcher): an aligned table,
// and an exit once stdout is flushed (protocol stacks such as noble or node-opcua keep handles open).

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)].join('\n');
}

/** Exits with `code` once what was written to stdout is flushed. */
export function exitFlushed(code: number): Promise<never> {
  return new Promise(() => process.stdout.write('', () => process.exit(code)));
}
