/** Shared CLI helpers: JSON or table output, and failures that exit non-zero with a clear message. */
export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: ReadonlyArray<Record<string, unknown>>, columns?: readonly string[]): void {
  if (rows.length === 0) { process.stdout.write('(none)\n'); return; }
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${line(cols.map((c) => c.toUpperCase()))}\n`);
  for (const r of rows) process.stdout.write(`${line(cols.map((c) => cell(r[c])))}\n`);
}

/** Progress lines go to stderr so `--json` output on stdout stays parseable. */
export function progressLine(message: string): void {
  process.stderr.write(`· ${message}\n`);
}
