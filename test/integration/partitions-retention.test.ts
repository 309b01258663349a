import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import copyStreams from 'pg-copy-streams';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import {
  ensureMonthPartition, partitionName, PartitionError, relationState, restorePartition, runMaintenance, type MaintenanceHooks,
} from '../../src/partitions/index.ts';
import type { ArchiveManifest } from '../../src/partitions/manifest.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { counts, fillMessages, fillPosts, maintenanceSession, monthsFromNow, seedBase, type Counts } from '../helpers/partition-fixtures.ts';

let tdb: TestDatabase;
let admin: pg.Client;
let session: pg.Client;
let dataDir: string;
let before: Counts;

const M30 = monthsFromNow(-30);
const M28 = monthsFromNow(-28);
const MSG30 = partitionName('messages', M30);
const MSG28 = partitionName('messages', M28);
const SU30 = partitionName('status_updates', M30);
const MESSAGES_PER_MONTH = 3_000;
const POSTS = 200;
const COMMENTS_PER_POST = 3;

const config = (extra: Record<string, string> = {}) => tdb.config({ BGC_DATA_DIR: dataDir, ...extra });
const maintain = (hooks?: MaintenanceHooks, extra?: Record<string, string>) =>
  runMaintenance(session, { config: config(extra), instanceId: 'test', trigger: 'test', hooks });
/**
 * A run's actions on existing months. Months ahead are created by any run after the calendar
 * moved on (the date sweep ends a month and a year while this file runs); that is
 * partitions-create.test.ts's subject, not this file's.
 */
const onExisting = (report: Awaited<ReturnType<typeof maintain>>) => report.actions.filter((a) => a.kind !== 'create');

interface LedgerView { state: string; row_count: string | null; comment_count: string | null; last_error: string | null }
async function ledger(name: string): Promise<LedgerView | undefined> {
  return (await admin.query<LedgerView>(`SELECT state, row_count::text, comment_count::text, last_error FROM partition_ledger WHERE partition_name = $1`, [name])).rows[0];
}

/** Archived rows according to the ledger (rows of months whose cycle reached 'dropped'). */
async function archivedCounts(): Promise<Counts> {
  const { rows } = await admin.query<{ parent: string; rows: number; comments: number }>(
    `SELECT parent, sum(row_count)::int AS rows, COALESCE(sum(comment_count), 0)::int AS comments
     FROM partition_ledger WHERE state = 'dropped' GROUP BY parent`);
  const m = rows.find((r) => r.parent === 'messages');
  const s = rows.find((r) => r.parent === 'status_updates');
  return { messages: m?.rows ?? 0, status_updates: s?.rows ?? 0, post_comments: s?.comments ?? 0 };
}

function crashAt(partition: string, state: string): MaintenanceHooks {
  return {
    afterTransition: (p, s) => {
      if (p === partition && s === state) throw new PartitionError('SIMULATED_CRASH', `simulated crash after ${state}`);
    },
  };
}

beforeAll(async () => {
  tdb = await createTestDatabase('part-retention');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-retention-'));
  admin = await tdb.admin();
  session = await maintenanceSession(tdb);
  await seedBase(admin);
  for (const m of [M30, M28]) {
    await ensureMonthPartition(admin, 'messages', m);
    await fillMessages(admin, m, MESSAGES_PER_MONTH);
  }
  await ensureMonthPartition(admin, 'status_updates', M30);
  await fillPosts(admin, M30, POSTS, COMMENTS_PER_POST);
  await fillMessages(admin, monthsFromNow(0), 500); // live rows that must stay
  await fillPosts(admin, monthsFromNow(0), 20, 2);
  before = await counts(admin);
});
afterAll(async () => {
  await session?.end();
  await admin?.end();
  await tdb?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('retention: detach → export → verify → drop (file mode)', () => {
  it('archives months past 24 months with a manifest whose count and checksum match, then drops them', async () => {
    const report = await maintain();
    expect(report.failed).toBe(0);
    const archived = report.actions.filter((a) => a.kind === 'archive');
    expect(archived.map((a) => `${a.partition} ${a.status} ${a.toState}`).sort()).toEqual([`${MSG28} done dropped`, `${MSG30} done dropped`, `${SU30} done dropped`].sort());
    for (const name of [MSG30, MSG28, SU30]) expect(await relationState(admin, name)).toBe('absent');

    const manifest = JSON.parse(fs.readFileSync(path.join(dataDir, 'archive', tdb.name, `${MSG30}.manifest.json`), 'utf8')) as ArchiveManifest;
    expect(manifest.rows.rows).toBe(MESSAGES_PER_MONTH);
    // Read the file back independently of the code under test: gunzip, sha256, count records via PostgreSQL's own parser.
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(dataDir, 'archive', tdb.name, `${MSG30}.csv.gz`)));
    expect(crypto.createHash('sha256').update(raw).digest('hex')).toBe(manifest.rows.sha256);
    await admin.query(`CREATE TEMP TABLE check_rows (LIKE messages)`);
    const copy = admin.query(copyStreams.from(`COPY check_rows FROM STDIN WITH (FORMAT csv, HEADER true)`));
    await pipeline(Readable.from([raw]), copy);
    expect(copy.rowCount).toBe(MESSAGES_PER_MONTH);
    const min = await admin.query<{ min: string; max: string }>(`SELECT min(created_at)::text AS min, max(created_at)::text AS max FROM check_rows`);
    expect(min.rows[0]).toEqual({ min: manifest.rows.minCreatedAt, max: manifest.rows.maxCreatedAt });

    const su = JSON.parse(fs.readFileSync(path.join(dataDir, 'archive', tdb.name, `${SU30}.manifest.json`), 'utf8')) as ArchiveManifest;
    expect(su.rows.rows).toBe(POSTS);
    expect(su.comments?.rows).toBe(POSTS * COMMENTS_PER_POST);

    const live = await counts(admin);
    const gone = await archivedCounts();
    expect({ messages: live.messages + gone.messages, status_updates: live.status_updates + gone.status_updates, post_comments: live.post_comments + gone.post_comments }).toEqual(before);
    expect(gone).toEqual({ messages: 2 * MESSAGES_PER_MONTH, status_updates: POSTS, post_comments: POSTS * COMMENTS_PER_POST });
    // No comment is left pointing at an archived post.
    const dangling = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM post_comments c WHERE NOT EXISTS (SELECT 1 FROM status_updates s WHERE s.id = c.post_id AND s.created_at = c.post_created_at)`);
    expect(dangling.rows[0]?.n).toBe(0);
    expect(onExisting(await maintain())).toEqual([]);
  });

  it('restore brings each month back with the same count, comments included', async () => {
    const msg = await restorePartition(session, MSG30, { keepDays: 0 });
    expect(msg).toMatchObject({ source: 'file', rows: MESSAGES_PER_MONTH });
    // The comments file copied back without its data file's siblings: refused, nothing changed
    // (before: restored with 0 comments and the ledger said restored).
    const commentsFile = path.join(dataDir, 'archive', tdb.name, `${SU30}_comments.csv.gz`);
    fs.renameSync(commentsFile, `${commentsFile}.away`);
    try {
      await expect(restorePartition(session, SU30, { keepDays: 0 })).rejects.toMatchObject({ code: 'PARTITION_MISSING' });
    } finally {
      fs.renameSync(`${commentsFile}.away`, commentsFile);
    }
    expect((await ledger(SU30))?.state).toBe('dropped');
    expect(await relationState(admin, SU30)).toBe('absent');
    const su = await restorePartition(session, SU30, { keepDays: 0 });
    expect(su).toMatchObject({ source: 'file', rows: POSTS, comments: POSTS * COMMENTS_PER_POST });
    expect(await relationState(admin, MSG30)).toBe('attached');
    const now = await counts(admin);
    expect(now).toEqual({ ...before, messages: before.messages - MESSAGES_PER_MONTH }); // MSG28 is still archived
    expect((await ledger(MSG30))?.state).toBe('restored');
  });

  it('refuses to restore a month whose name a new table took since it was archived', async () => {
    // A re-seed re-creates every month of its history, the archived ones too.
    await ensureMonthPartition(admin, 'messages', M28);
    try {
      // Before: "restored from attached", nothing loaded, and the next cycle overwrote the archive.
      await expect(restorePartition(session, MSG28, { keepDays: 0 })).rejects.toMatchObject({ code: 'PARTITION_STATE' });
      expect((await ledger(MSG28))?.state).toBe('dropped');
    } finally {
      await admin.query(`DROP TABLE ${MSG28}`);
    }
    // Its own rows attached by a restore that stopped before its last step are finished by
    // running it again: the table holds exactly what the ledger archived.
    expect(await restorePartition(session, MSG28, { keepDays: 0 })).toMatchObject({ source: 'file', rows: MESSAGES_PER_MONTH });
    await admin.query(`UPDATE partition_ledger SET state = 'dropped' WHERE partition_name = $1`, [MSG28]);
    expect(await restorePartition(session, MSG28, { keepDays: 0 })).toMatchObject({ source: 'attached', rows: MESSAGES_PER_MONTH });
    expect((await ledger(MSG28))?.state).toBe('restored');
  });

  it('finishes a restore that stopped before ATTACH after giving the table the parent\'s new columns', async () => {
    // What such a restore leaves: the month's rows standalone in public, with a column the
    // parent gained since the archive, and the ledger still at dropped.
    await admin.query('ALTER TABLE messages ADD COLUMN restore_probe int');
    try {
      await admin.query(`ALTER TABLE messages DETACH PARTITION ${MSG28}`);
      await admin.query(`UPDATE partition_ledger SET state = 'dropped' WHERE partition_name = $1`, [MSG28]);
      // Before: the checksum over every column (the new one too) never matched the ledger's.
      expect(await restorePartition(session, MSG28, { keepDays: 0 })).toMatchObject({ source: 'detached', rows: MESSAGES_PER_MONTH });
      expect(await relationState(admin, MSG28)).toBe('attached');
    } finally {
      await admin.query('ALTER TABLE messages DROP COLUMN restore_probe');
    }
  });
});

describe('crash safety: every step resumes', () => {
  it('a run that dies after the detach is completed by the next run', async () => {
    await expect(maintain(crashAt(MSG30, 'detached'))).rejects.toThrow(/simulated crash/);
    expect((await ledger(MSG30))?.state).toBe('detached');
    expect(await relationState(admin, MSG30)).toBe('detached');
    const report = await maintain();
    expect(report.failed).toBe(0);
    expect((await ledger(MSG30))?.state).toBe('dropped');
    const runs = await admin.query<{ status: string }>(`SELECT status FROM partition_runs ORDER BY id DESC LIMIT 2`);
    expect(runs.rows.map((r) => r.status)).toEqual(['ok', 'aborted']);
  });

  it('a run that dies after the export is completed by the next run', async () => {
    await restorePartition(session, MSG30, { keepDays: 0 });
    await expect(maintain(crashAt(MSG30, 'exported'))).rejects.toThrow(/simulated crash/);
    expect((await ledger(MSG30))?.state).toBe('exported');
    expect(await relationState(admin, MSG30)).toBe('detached');
    expect((await maintain()).failed).toBe(0);
    expect((await ledger(MSG30))).toMatchObject({ state: 'dropped', row_count: String(MESSAGES_PER_MONTH) });
  });

  it('verifies an export made before the parent gained a column (a deploy between the steps)', async () => {
    await restorePartition(session, MSG30, { keepDays: 0 });
    await expect(maintain(crashAt(MSG30, 'exported'))).rejects.toThrow(/simulated crash/);
    await admin.query('ALTER TABLE messages ADD COLUMN verify_probe int');
    try {
      // Before: "missing data for column", back to detached and exported again on every run.
      const report = await maintain();
      expect(report.failed).toBe(0);
      expect((await ledger(MSG30))).toMatchObject({ state: 'dropped', row_count: String(MESSAGES_PER_MONTH) });
    } finally {
      await admin.query('ALTER TABLE messages DROP COLUMN verify_probe');
    }
  });

  it('an interrupted DETACH … CONCURRENTLY (pending) is FINALIZEd and the month archived', async () => {
    await restorePartition(session, MSG30, { keepDays: 0 });
    const reader = await tdb.admin();
    const detacher = await tdb.admin();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM messages');
      await detacher.query(`SET lock_timeout = '300ms'`);
      await expect(detacher.query(`ALTER TABLE messages DETACH PARTITION "${MSG30}" CONCURRENTLY`)).rejects.toThrow(/lock timeout/);
      expect(await relationState(admin, MSG30)).toBe('pending_detach');
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
      await detacher.end();
    }
    const report = await maintain();
    expect(onExisting(report).map((a) => `${a.kind} ${a.partition} ${a.status}`)).toEqual([`finalize ${MSG30} done`, `archive ${MSG30} done`]);
    expect((await ledger(MSG30))?.state).toBe('dropped');
  });

  it('a damaged archive fails verification: the table is kept, the next run exports again', async () => {
    await restorePartition(session, MSG30, { keepDays: 0 });
    const file = path.join(dataDir, 'archive', tdb.name, `${MSG30}.csv.gz`);
    const damage: MaintenanceHooks = {
      afterTransition: (p, s) => {
        if (p !== MSG30 || s !== 'exported') return;
        const lines = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
        fs.writeFileSync(file, zlib.gzipSync(lines.replace('msg 17,', 'msg 71,')));
      },
    };
    const bad = await maintain(damage);
    expect(bad.failed).toBe(1);
    expect(await ledger(MSG30)).toMatchObject({ state: 'detached' });
    expect((await ledger(MSG30))?.last_error).toMatch(/verification failed/);
    expect(await relationState(admin, MSG30)).toBe('detached');
    expect((await maintain()).failed).toBe(0);
    expect((await ledger(MSG30))?.state).toBe('dropped');
  });

  it('an archive that cannot be read back (truncated gzip) fails verification too: back to detached, exported again', async () => {
    await restorePartition(session, MSG30, { keepDays: 0 });
    const file = path.join(dataDir, 'archive', tdb.name, `${MSG30}.csv.gz`);
    const truncate: MaintenanceHooks = {
      afterTransition: (p, s) => {
        if (p !== MSG30 || s !== 'exported') return;
        fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 64));
      },
    };
    const bad = await maintain(truncate);
    expect(bad.failed).toBe(1);
    // Before: the read-back threw, the month stayed 'exported', and every run failed on the same file.
    expect(await ledger(MSG30)).toMatchObject({ state: 'detached' });
    expect((await ledger(MSG30))?.last_error).toMatch(/could not be read back/);
    expect((await maintain()).failed).toBe(0);
    expect((await ledger(MSG30))?.state).toBe('dropped');
  });
});

describe('retention in schema mode', () => {
  it('moves the month into the archive schema, verifies it by SQL, and restores it', async () => {
    await restorePartition(session, SU30, { keepDays: 0 }); // archived to a file by the runs above
    const report = await maintain(undefined, { BGC_PARTITION_ARCHIVE_MODE: 'schema' });
    expect(report.failed).toBe(0);
    expect(onExisting(report).map((a) => `${a.partition} ${a.toState}`)).toEqual([`${SU30} dropped`]);
    expect(await relationState(admin, SU30)).toBe('archived');
    const archived = await admin.query<{ n: number; c: number }>(
      `SELECT (SELECT count(*) FROM archive."${SU30}")::int AS n, (SELECT count(*) FROM archive."${SU30}_comments")::int AS c`);
    expect(archived.rows[0]).toEqual({ n: POSTS, c: POSTS * COMMENTS_PER_POST });
    const back = await restorePartition(session, SU30, { keepDays: 30 });
    expect(back).toMatchObject({ source: 'schema', rows: POSTS, comments: POSTS * COMMENTS_PER_POST });
    expect((await counts(admin)).post_comments).toBe(before.post_comments);
    // Kept for 30 days: retention leaves it alone.
    expect(onExisting(await maintain(undefined, { BGC_PARTITION_ARCHIVE_MODE: 'schema' }))).toEqual([]);
  });
});
