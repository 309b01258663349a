import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { ArchiveManifest } from '../../src/partitions/manifest.ts';
import { ensureMonthPartition, monthStart, partitionName, addMonths, type MonthRef } from '../../src/partitions/index.ts';
import type { MaintenanceReport, RestoreResult } from '../../src/partitions/index.ts';
import { monthsFromNow } from '../helpers/partition-fixtures.ts';
import { registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * No message is lost across partition maintenance, end to end: messages and posts written
 * through the API (and older months loaded directly, since the API cannot backdate), then
 * `bgc partitions maintain` (the real CLI, a child process) archives the months past
 * retention while users keep sending messages through the API; afterwards
 *   live rows + rows in the archive manifests = rows before + rows sent meanwhile,
 * every message the API acknowledged is still readable, each archive file matches its
 * manifest, and `bgc partitions restore` brings a month back with exactly its rows.
 */
let t: TestApp;
let admin: pg.Client;
let ann: TestUser;
let ben: TestUser;
let conversationId: string;
let dataDir: string;

const OLD: MonthRef[] = [monthsFromNow(-30), monthsFromNow(-27)];
const PER_MONTH = 800;
const OLD_POSTS = 60;
const COMMENTS_PER_POST = 2;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/bgc.js', ...args], {
      cwd: t.rt.deps.config.projectRoot,
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: t.tdb.primaryUrl, DATABASE_REPLICA_URLS: '', BGC_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

interface Counts { messages: number; status_updates: number; post_comments: number }
async function counts(): Promise<Counts> {
  const { rows } = await admin.query<Counts>(`SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM status_updates)::int AS status_updates, (SELECT count(*) FROM post_comments)::int AS post_comments`);
  return rows[0] as Counts;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-data-safety-'));
  t = await startTestApp('data_safety', { BGC_DATA_DIR: dataDir, BGC_CACHE_WARM_COUNT: '0' });
  admin = await t.tdb.admin();
  [ann, ben] = await Promise.all([registerUser(t, 'ds_ann'), registerUser(t, 'ds_ben')]);
  const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: ann.token, body: { recipient_id: ben.id } });
  conversationId = conv.body.id;
  for (let i = 0; i < 30; i++) {
    expect((await t.call('POST', `/api/chat/conversations/${conversationId}/messages`, { token: i % 2 ? ben.token : ann.token, body: { content: `now ${i}` } })).status).toBe(201);
  }
  for (let i = 0; i < 5; i++) {
    const post = await t.call<{ id: string }>('POST', '/api/feed', { token: ann.token, body: { content: `post ${i}` } });
    await t.call('POST', `/api/feed/${post.body.id}/comments`, { token: ben.token, body: { content: 'nice' } });
  }
  // Older months, in the API's own conversation: the API stamps rows with the current time.
  for (const m of OLD) {
    const from = monthStart(m).toISOString();
    const seconds = (monthStart(addMonths(m, 1)).getTime() - monthStart(m).getTime()) / 1000;
    await ensureMonthPartition(admin, 'messages', m);
    await admin.query(
      `INSERT INTO messages (id, conversation_id, sender_id, content, created_at)
       SELECT gen_random_uuid(), $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'old ' || g || E', "q"\\n2',
              $4::timestamptz + (g * ($5::float8 / ($6 + 1))) * interval '1 second'
       FROM generate_series(1, $6::int) g`, [conversationId, ann.id, ben.id, from, seconds, PER_MONTH]);
    await ensureMonthPartition(admin, 'status_updates', m);
    await admin.query(
      `WITH posts AS (
         INSERT INTO status_updates (id, author_id, content, created_at, comment_count)
         SELECT gen_random_uuid(), $1, 'old post ' || g, $2::timestamptz + g * interval '1 hour', $3 FROM generate_series(1, $4::int) g
         RETURNING id, created_at)
       INSERT INTO post_comments (id, post_id, post_created_at, author_id, content, created_at)
       SELECT gen_random_uuid(), p.id, p.created_at, $5, 'c' || k, p.created_at + k * interval '1 minute' FROM posts p, generate_series(1, $3::int) k`,
      [ann.id, from, COMMENTS_PER_POST, OLD_POSTS, ben.id]);
  }
}, 120_000);

afterAll(async () => {
  await admin?.end();
  await t?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('data safety across partition maintenance', () => {
  it('archives past-retention months while the API keeps writing: nothing lost, manifests account for every archived row, then restores a month', async () => {
    const before = await counts();
    const perMonth = async (table: string, m: MonthRef) => (await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE created_at >= $1 AND created_at < $2`, [monthStart(m).toISOString(), monthStart(addMonths(m, 1)).toISOString()])).rows[0]?.n ?? 0;
    expect(await perMonth('messages', OLD[0] as MonthRef)).toBe(PER_MONTH);

    // Users keep writing through the API while the CLI archives.
    const sent: string[] = [];
    let failedWrites = 0;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 5_000; i++) {
        const res = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conversationId}/messages`, { token: i % 2 ? ben.token : ann.token, body: { content: `during ${i}` } });
        if (res.status === 201) sent.push(res.body.id); else failedWrites++;
      }
    })();
    const maintain = await cli(['partitions', 'maintain', '--json']);
    writing = false;
    await writer;
    expect(maintain.code, maintain.stderr).toBe(0);
    const report = JSON.parse(maintain.stdout) as MaintenanceReport;
    const archived = report.actions.filter((a) => a.kind === 'archive');
    const expectedNames = OLD.flatMap((m) => [partitionName('messages', m), partitionName('status_updates', m)]).sort();
    expect(archived.map((a) => `${a.partition} ${a.status} ${a.toState}`).sort()).toEqual(expectedNames.map((n) => `${n} done dropped`));
    expect(failedWrites, 'API writes that failed during maintenance').toBe(0);
    expect(sent.length).toBeGreaterThan(5);

    // Every archived row is in a manifest whose file reproduces its sha256.
    const inArchive: Counts = { messages: 0, status_updates: 0, post_comments: 0 };
    for (const name of expectedNames) {
      const manifest = JSON.parse(fs.readFileSync(path.join(dataDir, 'archive', t.tdb.name, `${name}.manifest.json`), 'utf8')) as ArchiveManifest;
      const raw = zlib.gunzipSync(fs.readFileSync(path.join(dataDir, 'archive', t.tdb.name, manifest.rows.file)));
      expect(crypto.createHash('sha256').update(raw).digest('hex')).toBe(manifest.rows.sha256);
      if (manifest.parent === 'messages') {
        expect(manifest.rows.rows).toBe(PER_MONTH);
        inArchive.messages += manifest.rows.rows;
      } else {
        expect(manifest.rows.rows).toBe(OLD_POSTS);
        expect(manifest.comments?.rows).toBe(OLD_POSTS * COMMENTS_PER_POST);
        inArchive.status_updates += manifest.rows.rows;
        inArchive.post_comments += manifest.comments?.rows ?? 0;
      }
    }
    const after = await counts();
    expect({
      messages: after.messages + inArchive.messages,
      status_updates: after.status_updates + inArchive.status_updates,
      post_comments: after.post_comments + inArchive.post_comments,
    }).toEqual({ ...before, messages: before.messages + sent.length });
    const found = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [sent]);
    expect(found.rows[0]?.n, 'messages acknowledged by the API during maintenance, still there').toBe(sent.length);

    // The operator's restore path: bgc partitions restore brings one month back, row for row.
    const month = OLD[0] as MonthRef;
    const restore = await cli(['partitions', 'restore', partitionName('messages', month), '--keep-days', '0', '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout) as RestoreResult).toMatchObject({ source: 'file', rows: PER_MONTH });
    expect(await perMonth('messages', month)).toBe(PER_MONTH);
    expect((await counts()).messages).toBe(after.messages + PER_MONTH);
    console.log(`[data-safety] archived ${inArchive.messages} messages, ${inArchive.status_updates} posts, ${inArchive.post_comments} comments ` +
      `while the API acknowledged ${sent.length} messages (0 failed); live + archived = before + sent; restored ${PER_MONTH} rows of ${partitionName('messages', month)}`);
  }, 300_000);
});
