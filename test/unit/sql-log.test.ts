import { describe, it, expect } from 'vitest';
import { allQueries } from '../../src/catalog/all.ts';
import { defineQuery, type QueryDef } from '../../src/catalog/types.ts';
import { inferSecretParams, loggableParams, REDACTED, secretParams, StatementLog } from '../../src/db/sql-log.ts';

/** LOG_SQL's redaction (issue 14): which parameters a statement line never shows. */
const sorted = (s: ReadonlySet<number>) => [...s].sort((a, b) => a - b);

describe('secret parameters read from the SQL', () => {
  it('finds the password and token hashes of the app\'s own credential statements', async () => {
    const byName = new Map((await allQueries()).map((d) => [d.name, d]));
    const secrets = (name: string) => {
      const def = byName.get(name);
      if (!def) throw new Error(`no catalog entry ${name}`);
      return sorted(secretParams(def));
    };
    // INSERT … VALUES ($1, $2, $3, $4) into password_hash; INSERT … SELECT $5, id, $6, $7 into token_hash.
    expect(secrets('auth.register')).toEqual([4, 6]);
    expect(secrets('auth.login_session')).toEqual([3]);
    expect(secrets('session.by_token_hash')).toEqual([1]);
    expect(secrets('session.revoke')).toEqual([1]);
    // An email is not a credential.
    expect(secrets('auth.find_user_by_email')).toEqual([]);
  });

  it('covers comparisons, ANY, IN lists, mirrored comparisons, UPDATE … SET and multi-row VALUES', () => {
    expect(sorted(inferSecretParams('UPDATE users SET password_hash = $2 WHERE id = $1'))).toEqual([2]);
    expect(sorted(inferSecretParams('SELECT 1 FROM sessions WHERE token_hash = ANY($1::bytea[]) AND user_id = $2'))).toEqual([1]);
    expect(sorted(inferSecretParams('SELECT 1 FROM sessions s WHERE s.token_hash IN ($1, $2) AND s.user_id = $3'))).toEqual([1, 2]);
    expect(sorted(inferSecretParams('SELECT 1 FROM keys WHERE $3::text = api_key AND owner = $1'))).toEqual([3]);
    expect(sorted(inferSecretParams('INSERT INTO t (id, "reset_token", note) VALUES ($1, $2, $3), ($4, $5, $6)'))).toEqual([2, 5]);
    expect(sorted(inferSecretParams('SELECT id FROM users WHERE lower(email) = lower($1) AND username = $2'))).toEqual([]);
  });

  it('adds the entry\'s own redact list to what the SQL shows', () => {
    const def = defineQuery({ name: 'test.redact_list', description: 'x', target: 'primary', sample: [], sql: 'SELECT crypt($1, $2) = $3 AS ok', redact: [1] });
    expect(sorted(secretParams(def))).toEqual([1]);
  });
});

describe('statement log lines', () => {
  const def: QueryDef = defineQuery({
    name: 'test.credentials', description: 'x', target: 'primary', sample: [],
    sql: 'INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) RETURNING id',
  });

  it('replace secret parameters, any scrypt$ value, and summarise bytes and long text', () => {
    const params = ['0190e7b2-0000-7000-8000-000000000001', 'scrypt$16384$8$1$c2FsdA$aGFzaA', 'scrypt$16384$8$1$c2FsdA$b3RoZXI'];
    expect(loggableParams(def, params)).toEqual(['0190e7b2-0000-7000-8000-000000000001', REDACTED, REDACTED]);
    const other = defineQuery({ name: 'test.other', description: 'x', target: 'primary', sample: [], sql: 'SELECT $1::bytea, $2::text, $3::timestamptz' });
    const shown = loggableParams(other, [Buffer.alloc(32, 7), 'x'.repeat(500), new Date('2027-01-01T00:00:05Z')]);
    expect(shown[0]).toBe('<32 bytes>');
    expect(String(shown[1])).toMatch(/^x{200}… \(500 chars\)$/);
    expect(shown[2]).toBe('2027-01-01T00:00:05.000Z');
  });

  it('carry the catalog name, node, duration, rows or error code, and the statement', () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = [];
    const log = new StatementLog({ info: (obj, msg) => { lines.push({ obj, msg }); } });
    log.record(def, ['id-1', 'a@example.test', 'scrypt$16384$8$1$c2FsdA$aGFzaA'], { node: 'primary', seconds: 0.001234, rows: 1 });
    log.record(def, ['id-2', 'b@example.test', 'not-a-hash-but-still-secret'], { node: 'primary', seconds: 0.002, error: Object.assign(new Error('dup'), { code: '23505' }) });
    expect(lines.map((l) => l.msg)).toEqual(['sql', 'sql']);
    expect(lines[0]?.obj).toMatchObject({ query: 'test.credentials', node: 'primary', ms: 1.23, rows: 1, params: ['id-1', 'a@example.test', REDACTED] });
    expect(lines[0]?.obj.sql).toBe('/* test.credentials */ INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) RETURNING id');
    expect(lines[1]?.obj).toMatchObject({ error: '23505', params: ['id-2', 'b@example.test', REDACTED] });
    expect(JSON.stringify(lines)).not.toContain('scrypt$');
    expect(JSON.stringify(lines)).not.toContain('still-secret');
  });
});
