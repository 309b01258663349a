import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { ensureMonthPartition, partitionName, relationState, restorePartition, runMaintenance } from '../../src/partitions/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { IDS, fillMessages, fillPosts, maintenanceSession, monthsFromNow, seedBase } from '../helpers/partition-fixtures.ts';

/**
 * Restoring a month after the live tables moved on: a column added to the parent since the
 * archive, and parent rows (a user, and with it their conversation) deleted since, which
 * ON DELETE CASCADE never reached in the archive. Before: the file did not load (COPY with
 * one column fewer than the table), and ATTACH failed on the first orphan row; a month
 * restored from the archive schema could not be attached at all ("missing column").
 */
let tdb: TestDatabase;
let admin: pg.Client;
let session: pg.Client;
let dataDir: string;

const M30 = monthsFromNow(-30);
const M29 = monthsFromNow(-29);
const MSG30 = partitionName('messages', M30);
const MSG29 = partitionName('messages', M29);
const SU30 = partitionName('status_updates', M30);
const MESSAGES_PER_MONTH = 1_000; // half in the conversation, half in the room
const POSTS = 40;
const COMMENTS_PER_POST = 2; // by user2

const maintain = (mode: 'file' | 'schema') => runMaintenance(session, {
  config: tdb.config({ BGC_DATA_DIR: dataDir, BGC_PARTITION_ARCHIVE_MODE: mode }), instanceId: 'test', trigger: 'test',
});

/** The month's FK constraints, and whether each belongs to one of the parent's. */
async function foreignKeys(name: string): Promise<Array<{ name: string; adopted: boolean }>> {
  const { rows } = await admin.query<{ name: string; adopted: boolean }>(
    `SELECT conname AS name, conparentid <> 0 AS adopted FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY 1`, [name]);
  return rows;
}

beforeAll(async () => {
  tdb = await createTestDatabase('part-restore-drift');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-restore-drift-'));
  admin = await tdb.admin();
  session = await maintenanceSession(tdb);
  await seedBase(admin);
  await ensureMonthPartition(admin, 'messages', M30);
  await fillMessages(admin, M30, MESSAGES_PER_MONTH);
  await ensureMonthPartition(admin, 'status_updates', M30);
  await fillPosts(admin, M30, POSTS, COMMENTS_PER_POST);
  // Archived to files by a first run, M29 to the archive schema by a second one.
  expect((await maintain('file')).failed).toBe(0);
  await ensureMonthPartition(admin, 'messages', M29);
  await fillMessages(admin, M29, MESSAGES_PER_MONTH);
  expect((await maintain('schema')).failed).toBe(0);
  expect(await relationState(admin, MSG30)).toBe('absent');
  expect(await relationState(admin, MSG29)).toBe('archived');
  // The live tables move on.
  await admin.query(`ALTER TABLE messages ADD COLUMN restore_note text NOT NULL DEFAULT 'none'`);
  await admin.query(`ALTER TABLE post_comments ADD COLUMN restore_flag int DEFAULT 7`);
  await admin.query(`DELETE FROM users WHERE id = $1`, [IDS.user2]); // cascades to the conversation
}, 120_000);

afterAll(async () => {
  await session?.end();
  await admin?.end();
  await tdb?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('restore after the schema and the data moved on', () => {
  it('a file archived before a column was added loads, its orphans settled as ON DELETE would have, and it attaches', async () => {
    const parentFks = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f'`)).rows[0]?.n;
    const back = await restorePartition(session, MSG30, { keepDays: 0 });
    expect(back).toMatchObject({ source: 'file', rows: MESSAGES_PER_MONTH / 2, settledOrphans: MESSAGES_PER_MONTH / 2, addedColumns: [] });
    expect(await relationState(admin, MSG30)).toBe('attached');
    const rows = await admin.query<{ n: number; conv: number }>(
      `SELECT count(*) FILTER (WHERE restore_note = 'none')::int AS n, count(conversation_id)::int AS conv FROM "${MSG30}"`);
    expect(rows.rows[0]).toEqual({ n: MESSAGES_PER_MONTH / 2, conv: 0 });
    // One constraint per parent FK, each the parent's own (cloned by ATTACH), none left standalone.
    const fks = await foreignKeys(MSG30);
    expect(fks.length).toBe(parentFks);
    expect(fks.every((f) => f.adopted)).toBe(true);
  });

  it('comments whose author was deleted since stay out; the rest load into a table that gained a column', async () => {
    const back = await restorePartition(session, SU30, { keepDays: 0 });
    expect(back).toMatchObject({ source: 'file', rows: POSTS, comments: 0, settledOrphans: 0 });
    expect((await foreignKeys(SU30)).every((f) => f.adopted)).toBe(true);
  });

  it('a month in the archive schema gains the parent\'s new column with its default before ATTACH', async () => {
    const back = await restorePartition(session, MSG29, { keepDays: 0 });
    expect(back).toMatchObject({ source: 'schema', rows: MESSAGES_PER_MONTH / 2, settledOrphans: MESSAGES_PER_MONTH / 2, addedColumns: ['restore_note'] });
    expect(await relationState(admin, MSG29)).toBe('attached');
    const rows = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${MSG29}" WHERE restore_note = 'none'`);
    expect(rows.rows[0]?.n).toBe(MESSAGES_PER_MONTH / 2);
    expect((await foreignKeys(MSG29)).every((f) => f.adopted)).toBe(true);
  });
});
