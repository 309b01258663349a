import type { QueryDef } from '../catalog/types.ts';

/**
 * LOG_SQL (FR-002: development only; config forces it off in production): one log line per
 * catalog statement the db layer sends, with its catalog name, node, duration, row count and
 * parameters. Parameters that carry secrets (password hashes, session-token hashes) are
 * replaced by REDACTED, so turning the log on never writes a credential to disk.
 *
 * A parameter is secret when
 *  - it is bound to a column whose name says so (`password_hash = $4`, `token_hash = ANY($1)`,
 *    or its place in `INSERT INTO t (…, token_hash, …) VALUES/SELECT (…, $6, …)`), read once
 *    from the entry's SQL, so a new entry is covered without anyone remembering a list;
 *  - or the entry lists it in `redact` (for what the SQL cannot show, e.g. a secret passed to a
 *    function);
 *  - or its value is in the stored password-hash format (`scrypt$…`), wherever it is bound.
 */

/** Where statement lines go; the app's pino logger satisfies it. */
export interface StatementLogSink {
  info(obj: Record<string, unknown>, msg: string): void;
}

export const REDACTED = '[redacted]';

/** Column names that hold secrets or credentials. */
const SECRET_COLUMN = /password|passwd|secret|token|credential|api_?key/i;
/** The stored password-hash format (src/auth/password.ts). */
const PASSWORD_HASH_VALUE = /^scrypt\$\d+\$/;
/** Long values are cut in the log: a log line is for reading, not for replaying. */
const MAX_PARAM_CHARS = 200;

const cache = new WeakMap<QueryDef, ReadonlySet<number>>();

/** The 1-based parameter numbers of an entry that are never logged. */
export function secretParams(def: QueryDef): ReadonlySet<number> {
  let out = cache.get(def);
  if (!out) {
    out = new Set([...inferSecretParams(def.text), ...def.redact]);
    cache.set(def, out);
  }
  return out;
}

/** Parameters bound to secret-named columns, read from the statement text. */
export function inferSecretParams(sql: string): Set<number> {
  const out = new Set<number>();
  const ident = String.raw`[A-Za-z_][\w.]*`;
  const param = String.raw`\$(\d+)`;
  // col = $n, col <> $n, col = ANY($n), col IN ($n, …) and the mirrored $n = col.
  const compare = new RegExp(String.raw`(${ident})\s*(?:=|<>|!=|\bIS\s+(?:NOT\s+)?DISTINCT\s+FROM\b)\s*(?:ANY\s*\(\s*)?${param}`, 'gi');
  for (const m of sql.matchAll(compare)) if (SECRET_COLUMN.test(m[1] ?? '')) out.add(Number(m[2]));
  const mirrored = new RegExp(String.raw`${param}(?:::[\w\[\]]+)?\s*(?:=|<>|!=)\s*(${ident})`, 'gi');
  for (const m of sql.matchAll(mirrored)) if (SECRET_COLUMN.test(m[2] ?? '')) out.add(Number(m[1]));
  const list = /\bIN\s*\(([^()]*)\)/gi;
  for (const m of sql.matchAll(list)) {
    const before = sql.slice(0, m.index).match(new RegExp(String.raw`(${ident})\s*(?:NOT\s+)?$`, 'i'));
    if (before && SECRET_COLUMN.test(before[1] ?? '')) for (const p of (m[1] ?? '').matchAll(/\$(\d+)/g)) out.add(Number(p[1]));
  }
  for (const n of insertedSecrets(sql)) out.add(n);
  return out;
}

/** `INSERT INTO t (cols) VALUES (…), (…)` or `… SELECT exprs FROM`: parameters placed in secret columns. */
function insertedSecrets(sql: string): number[] {
  const out: number[] = [];
  for (const m of sql.matchAll(/\bINSERT\s+INTO\s+[\w."]+\s*\(([^)]*)\)\s*/gi)) {
    const columns = (m[1] ?? '').split(',').map((c) => c.trim().replace(/"/g, ''));
    const rest = sql.slice((m.index ?? 0) + m[0].length);
    const rows: string[][] = [];
    if (/^VALUES\b/i.test(rest)) {
      let at = rest.indexOf('(');
      while (at >= 0) {
        const end = closingParen(rest, at);
        rows.push(splitTopLevel(rest.slice(at + 1, end)));
        const next = rest.slice(end + 1).match(/^\s*,\s*\(/);
        at = next ? end + 1 + (next[0].length - 1) : -1;
      }
    } else if (/^SELECT\b/i.test(rest)) {
      rows.push(splitTopLevel(selectList(rest.slice('SELECT'.length))));
    }
    for (const row of rows) {
      columns.forEach((col, i) => {
        if (SECRET_COLUMN.test(col)) for (const p of (row[i] ?? '').matchAll(/\$(\d+)/g)) out.push(Number(p[1]));
      });
    }
  }
  return out;
}

/** Index of the parenthesis closing the one at `open` (or the text's end). */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return text.length;
}

/** The select list: up to the first FROM/WHERE/RETURNING/ON CONFLICT, or the ')' closing an enclosing CTE. */
function selectList(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')' && depth-- === 0) return text.slice(0, i);
    else if (depth === 0 && /^\s(FROM|WHERE|RETURNING|ON\s+CONFLICT)\b/i.test(text.slice(i))) return text.slice(0, i);
  }
  return text;
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) { out.push(text.slice(start, i)); start = i + 1; }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim());
}

/** The parameters as a log line shows them: secrets replaced, long or binary values summarised. */
export function loggableParams(def: QueryDef, params: readonly unknown[]): unknown[] {
  const secret = secretParams(def);
  return params.map((value, i) => {
    if (secret.has(i + 1)) return REDACTED;
    if (typeof value === 'string') {
      if (PASSWORD_HASH_VALUE.test(value)) return REDACTED;
      return value.length > MAX_PARAM_CHARS ? `${value.slice(0, MAX_PARAM_CHARS)}… (${value.length} chars)` : value;
    }
    if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
    if (value instanceof Date) return value.toISOString();
    if (value !== null && typeof value === 'object') {
      const text = JSON.stringify(value);
      return text.length > MAX_PARAM_CHARS ? `${text.slice(0, MAX_PARAM_CHARS)}… (${text.length} chars)` : value;
    }
    return value;
  });
}

export interface StatementOutcome {
  readonly node: string;
  readonly seconds: number;
  /** Rows returned, when the statement succeeded. */
  readonly rows?: number;
  /** The error, when it failed. */
  readonly error?: unknown;
}

/** Writes one line per statement to the sink: `{ query, node, ms, rows | error, params, sql }`, message "sql". */
export class StatementLog {
  constructor(private readonly sink: StatementLogSink) {}

  record(def: QueryDef, params: readonly unknown[], outcome: StatementOutcome): void {
    const line: Record<string, unknown> = {
      query: def.name,
      node: outcome.node,
      ms: Math.round(outcome.seconds * 1e5) / 100,
      params: loggableParams(def, params),
      sql: def.text.replace(/\s+/g, ' '),
    };
    if (outcome.rows !== undefined) line.rows = outcome.rows;
    else line.error = errorCode(outcome.error);
    this.sink.info(line, 'sql');
  }
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'error';
}
