import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { parseConfig } from '../../src/config/index.ts';
import { chownToPostgres, findPgBinDir, run } from '../../src/tools/stack/exec.ts';
import { connectNode, PgNode } from '../../src/tools/stack/postgres-node.ts';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';
import { freePort } from '../helpers/free-port.ts';

/**
 * The cluster backup path of docs/RELIABILITY.md, on a private cluster: data written
 * through the API and in bulk; `pg_basebackup -X stream` taken while a writer inserts
 * rows; the copy started on a free port as a standalone primary; then
 *  - every table's row count and content checksum equal the source's (all writes but the
 *    in-flight writer's had stopped before the backup);
 *  - the in-flight writer's rows form a gap-free prefix at least as long as what had
 *    committed before the backup started (a consistent snapshot, nothing torn);
 *  - the app starts on the copy and serves logins and history.
 */
let ps: PrivateStack;
let rt: Runtime | undefined;
let restored: PgNode | undefined;
let backupDir = '';
const users: Array<{ email: string; password: string; token: string; id: string }> = [];
let conversationId = '';

async function call(app: Runtime, method: 'GET' | 'POST', url: string, body?: unknown, token?: string) {
  const res = await app.app.inject({
    method, url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/** Row count and an order-independent content checksum of every table in public (partitions through their parents). */
async function fingerprint(port: number): Promise<Record<string, string>> {
  const c = await connectNode(port, 'bgc');
  try {
    const tables = await c.query<{ name: string }>(`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'backup_probe' ORDER BY 1`);
    const out: Record<string, string> = {};
    for (const { name } of tables.rows) {
      const r = await c.query<{ n: string; sum: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))) AS sum FROM "${name}" t`);
      out[name] = `${r.rows[0]?.n} ${r.rows[0]?.sum ?? '-'}`;
    }
    return out;
  } finally { await c.end(); }
}

beforeAll(async () => {
  ps = await createPrivateStack('backup');
  rt = await startRuntime(ps.config({ BGC_POOL_SIZE: '2', BGC_CACHE_WARM_COUNT: '0', BGC_CACHE_NAMESPACE: `backup:${crypto.randomBytes(3).toString('hex')}` }), { listen: false });
  for (let i = 0; i < 4; i++) {
    const email = `backup${i}@example.test`;
    const password = 'backup Restore 42';
    const r = await call(rt, 'POST', '/api/auth/register', { email, username: `backup_${i}`, password });
    expect(r.status).toBe(201);
    users.push({ email, password, token: r.body.token as string, id: (r.body.user as { id: string }).id });
  }
  const conv = await call(rt, 'POST', '/api/chat/conversations', { recipient_id: users[1]?.id }, users[0]?.token);
  conversationId = conv.body.id as string;
  for (let i = 0; i < 40; i++) expect((await call(rt, 'POST', `/api/chat/conversations/${conversationId}/messages`, { content: `api ${i}` }, users[i % 2]?.token)).status).toBe(201);
  for (let i = 0; i < 10; i++) expect((await call(rt, 'POST', '/api/feed', { content: `post ${i}` }, users[i % 4]?.token)).status).toBe(201);
  const c = await connectNode(ps.stack.layout.primaryPort, 'bgc');
  try {
    await c.query(`INSERT INTO messages (id, conversation_id, sender_id, content, created_at)
                   SELECT gen_random_uuid(), $1, $2, 'bulk ' || g, now() - g * interval '1 second' FROM generate_series(1, 20000) g`, [conversationId, users[0]?.id]);
    await c.query('CREATE TABLE backup_probe (seq int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
  } finally { await c.end(); }
}, 180_000);

afterAll(async () => {
  await rt?.close();
  await restored?.stop('fast').catch(() => undefined);
  if (backupDir) { fs.rmSync(backupDir, { recursive: true, force: true }); fs.rmSync(`${backupDir}.log`, { force: true }); }
  await ps?.destroy();
}, 120_000);

describe('cluster backup and restore (pg_basebackup)', () => {
  it('a hot base backup restores to a running copy with equal row counts and checksums, and the app serves from it', async () => {
    const source = await fingerprint(ps.stack.layout.primaryPort);
    expect(Number(source.messages?.split(' ')[0])).toBeGreaterThan(20_000);

    // A writer keeps committing one row at a time during the backup.
    const writerConn = await connectNode(ps.stack.layout.primaryPort, 'bgc');
    let seq = 0;
    let writing = true;
    const writer = (async () => {
      while (writing && seq < 100_000) { seq++; await writerConn.query('INSERT INTO backup_probe (seq) VALUES ($1)', [seq]); }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const committedBeforeBackup = seq - 1;

    backupDir = path.join(ps.stack.layout.dataDir, `basebackup-${crypto.randomBytes(3).toString('hex')}`);
    fs.mkdirSync(backupDir, { recursive: true, mode: 0o700 });
    chownToPostgres(backupDir);
    const started = Date.now();
    await run(path.join(findPgBinDir(), 'pg_basebackup'), [
      '-h', '127.0.0.1', '-p', String(ps.stack.layout.primaryPort), '-U', 'postgres', '-D', backupDir, '-X', 'stream', '--checkpoint=fast',
    ], { asPostgres: true });
    const backupMs = Date.now() - started;
    writing = false;
    await writer;
    await writerConn.end();

    // The copy: its own port, a small shared_buffers, no standby.signal (not a replica).
    const port = await freePort();
    fs.appendFileSync(path.join(backupDir, 'postgresql.auto.conf'), `\n# restored copy (test)\nport = ${port}\nshared_buffers = '128MB'\n`);
    expect(fs.existsSync(path.join(backupDir, 'standby.signal'))).toBe(false);
    restored = new PgNode({ name: 'restored', role: 'primary', port, dir: backupDir, primaryPort: ps.stack.layout.primaryPort });
    const startedCopy = Date.now();
    await restored.start();
    const startMs = Date.now() - startedCopy;

    expect(await fingerprint(port)).toEqual(source);
    const probe = await connectNode(port, 'bgc');
    try {
      const p = await probe.query<{ n: number; max: number | null; recovery: boolean }>('SELECT count(*)::int AS n, max(seq) AS max, pg_is_in_recovery() AS recovery FROM backup_probe');
      const row = p.rows[0];
      expect(row?.recovery).toBe(false);
      expect(row?.n).toBe(row?.max ?? 0); // gap-free 1..max
      expect(row?.n).toBeGreaterThanOrEqual(committedBeforeBackup);
      console.log(`[backup] ${source.messages?.split(' ')[0]} messages; pg_basebackup ${backupMs} ms, copy started in ${startMs} ms; ` +
        `all ${Object.keys(source).length} tables equal; in-flight writer: ${row?.n} of ${seq} rows in the copy (≥ ${committedBeforeBackup} committed before the backup)`);
    } finally { await probe.end(); }

    // The app runs on the restored copy alone.
    const onCopy = await startRuntime(parseConfig({
      NODE_ENV: 'test', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/bgc`, REDIS_URL: ps.redisUrl, BGC_CACHE_NAMESPACE: `restored:${port}`,
      PORT: '0', ADMIN_PORT: '0', BGC_JOBS_ENABLED: 'false', BGC_POOL_SIZE: '1', BGC_CACHE_WARM_COUNT: '0', LOG_LEVEL: 'error',
    }), { listen: false });
    try {
      const login = await call(onCopy, 'POST', '/api/auth/login', { email: users[0]?.email, password: users[0]?.password });
      expect(login.status).toBe(200);
      const history = await call(onCopy, 'GET', `/api/chat/conversations/${conversationId}/history?limit=5`, undefined, login.body.token as string);
      expect(history.status).toBe(200);
      expect((history.body.items as unknown[]).length).toBe(5);
    } finally { await onCopy.close(); }
  }, 300_000);
});
