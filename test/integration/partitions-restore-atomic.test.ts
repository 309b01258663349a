import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { ensureMonthPartition, partitionName, relationState, restorePartition, runMaintenance } from '../../src/partitions/index.ts';
import { getLedger } from '../../src/partitions/ledger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { IDS, fillMessages, fillPosts, maintenanceSession, monthsFromNow, seedBase } from '../helpers/partition-fixtures.ts';

/**
 * A restore that fails part-way must leave what the ledger describes, so the next run can
 * finish it; and it must not bring back a month with fewer comments than were archived.
 * Before: the added columns and the settled orphans committed on their own ahead of the
 * ATTACH, so an ATTACH that failed left a table every re-run refused (PARTITION_VERIFY_FAILED);
 * and a comments file from another cycle (same name) was loaded as it was, the month marked
 * restored, and the comments it lacked lost at the month's next archive.
 */
let tdb: TestDatabase;
let admin: pg.Client;
let session: pg.Client;
let dataDir: string;

const M31 = monthsFromNow(-31);
const MSG31 = partitionName('messages', M31);
const SU31 = partitionName('status_updates', M31);
const MESSAGES = 400; // half in the conversation (orphaned below), half in the room
const POSTS = 30;
const COMMENTS_PER_POST = 3;
const FAST_LOCK_RETRY = { attempts: 2, firstTimeoutMs: 100, maxTimeoutMs: 200, budgetMs: 1_000 };

beforeAll(async () => {
  tdb = await createTestDatabase('part-restore-atomic');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-restore-atomic-'));
  admin = await tdb.admin();
  session = await maintenanceSession(tdb);
  await seedBase(admin);
  await ensureMonthPartition(admin, 'messages', M31);
  await fillMessages(admin, M31, MESSAGES);
  await ensureMonthPartition(admin, 'status_updates', M31);
  await fillPosts(admin, M31, POSTS, COMMENTS_PER_POST);
  const report = await runMaintenance(session, {
    config: tdb.config({ BGC_DATA_DIR: dataDir, BGC_PARTITION_ARCHIVE_MODE: 'file' }), instanceId: 'test', trigger: 'test',
  });
  expect(report.failed).toBe(0);
  expect(await relationState(admin, MSG31)).toBe('absent');
  expect(await relationState(admin, SU31)).toBe('absent');
}, 120_000);

afterAll(async () => {
  await session?.end();
  await admin?.end();
  await tdb?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a restore that stops part-way', () => {
  it('refuses a comments file that is not the archive\'s before anything moves, and restores from the right one', async () => {
    const ledger = await getLedger(admin, SU31);
    const file = ledger?.comment_path;
    expect(file, 'comments archived to a file').toBeTruthy();
    if (!file) return;
    const original = fs.readFileSync(file);
    // An older copy: the same file with its last five comments missing.
    const lines = zlib.gunzipSync(original).toString('utf8').trimEnd().split('\n');
    fs.writeFileSync(file, zlib.gzipSync(`${lines.slice(0, -5).join('\n')}\n`));
    await expect(restorePartition(session, SU31, { keepDays: 0 })).rejects.toMatchObject({ code: 'PARTITION_VERIFY_FAILED' });
    expect(await relationState(admin, SU31), 'nothing moved').toBe('absent');
    expect((await getLedger(admin, SU31))?.state).toBe('dropped');

    fs.writeFileSync(file, original);
    const back = await restorePartition(session, SU31, { keepDays: 0 });
    expect(back).toMatchObject({ source: 'file', rows: POSTS, comments: POSTS * COMMENTS_PER_POST });
  });

  it('an ATTACH that cannot get its locks leaves the table as loaded, and the next run finishes it', async () => {
    // The live tables move on: a new column, and a user deleted with their conversation.
    await admin.query(`ALTER TABLE messages ADD COLUMN atomic_note text NOT NULL DEFAULT 'none'`);
    await admin.query('DELETE FROM users WHERE id = $1', [IDS.user2]);
    // Someone holds a lock ATTACH must wait for (its foreign keys' SHARE ROW EXCLUSIVE on users).
    const blocker = await tdb.admin();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE users IN ROW EXCLUSIVE MODE');
      const t0 = performance.now();
      await expect(restorePartition(session, MSG31, { keepDays: 0, lockRetry: FAST_LOCK_RETRY })).rejects.toMatchObject({ code: 'PARTITION_LOCK_TIMEOUT' });
      console.log(`the restore gave up on its locks after ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    // Loaded, not fitted: every row still there (before: the orphans were already deleted, and
    // the re-run refused the table as not matching the ledger).
    expect(await relationState(admin, MSG31)).toBe('detached');
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${MSG31}"`);
    expect(rows[0]?.n).toBe(MESSAGES);

    const back = await restorePartition(session, MSG31, { keepDays: 0 });
    // The file's table was made LIKE today's parent, new column included.
    expect(back).toMatchObject({ source: 'detached', rows: MESSAGES / 2, settledOrphans: MESSAGES / 2, addedColumns: [] });
    expect(await relationState(admin, MSG31)).toBe('attached');
    expect((await getLedger(admin, MSG31))?.state).toBe('restored');
  });
});
