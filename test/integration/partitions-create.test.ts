import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { openDedicatedSession } from '../../src/db/leader-lock.ts';
import { sqlState } from '../../src/db/errors.ts';
import { defineQuery } from '../../src/catalog/types.ts';
import {
  ensureMonthPartition, isMissingPartitionError, monthOf, monthStart, partitionName, PartitionError, runMaintenance, withPartitionRetry,
} from '../../src/partitions/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { attached, IDS, maintenanceSession, monthsFromNow, seedBase } from '../helpers/partition-fixtures.ts';

let tdb: TestDatabase;
let admin: pg.Client;
let session: pg.Client;

// Not a catalog entry of the app: the shape of the API's message insert, for the on-demand path.
const insertMessage = defineQuery({
  name: 'test.partitions_insert_message',
  description: 'test insert',
  target: 'primary',
  sample: [],
  sql: `INSERT INTO messages (id, room_id, sender_id, content, created_at) VALUES (gen_random_uuid(), $1, $2, $3, $4) RETURNING id`,
});

beforeAll(async () => {
  tdb = await createTestDatabase('part-create');
  admin = await tdb.admin();
  session = await maintenanceSession(tdb);
  await seedBase(admin);
});
afterAll(async () => {
  await session?.end();
  await admin?.end();
  await tdb?.drop();
});

const config = () => tdb.config({ BGC_DATA_DIR: path.join(os.tmpdir(), `bgc-${tdb.name}`) });

describe('partition creation (FR-013, FR-015)', () => {
  it('from only the current month, maintenance creates 3 months ahead; a second run changes nothing', async () => {
    // One instant for the test and both runs: the date sweep ends a month while files run, and
    // a second run in the next month would rightly create one more.
    const now = new Date();
    const clock = () => now;
    const current = monthOf(now);
    for (const parent of ['messages', 'status_updates'] as const) {
      for (const name of await attached(admin, parent)) {
        if (name !== partitionName(parent, current)) await admin.query(`DROP TABLE "${name}"`);
      }
      expect(await attached(admin, parent)).toEqual([partitionName(parent, current)]);
    }
    const first = await runMaintenance(session, { config: config(), instanceId: 'test', trigger: 'test', clock });
    expect(first.failed).toBe(0);
    expect(first.actions.map((a) => `${a.kind} ${a.partition} ${a.status}`).sort()).toEqual(
      (['messages', 'status_updates'] as const).flatMap((t) => [1, 2, 3].map((n) => `create ${partitionName(t, monthsFromNow(n, now))} done`)).sort());
    for (const parent of ['messages', 'status_updates'] as const) {
      expect(await attached(admin, parent)).toEqual([0, 1, 2, 3].map((n) => partitionName(parent, monthsFromNow(n, now))));
    }
    const second = await runMaintenance(session, { config: config(), instanceId: 'test', trigger: 'test', clock });
    expect(second.actions).toEqual([]);
    const runs = await admin.query<{ status: string; n: number }>(`SELECT status, jsonb_array_length(actions) AS n FROM partition_runs ORDER BY id`);
    expect(runs.rows).toEqual([{ status: 'ok', n: 6 }, { status: 'ok', n: 0 }]);
  });

  it('follows the injected UTC clock, and the dry run lists statements with their locks without changing anything', async () => {
    const later = new Date(monthStart(monthsFromNow(6)).getTime() + 86_400_000);
    const before = await attached(admin, 'messages');
    const dry = await runMaintenance(session, { config: config(), instanceId: 'test', trigger: 'test', clock: () => later, dryRun: true });
    expect(dry.actions.map((a) => a.partition).filter((p) => p.startsWith('messages'))).toEqual(
      [6, 7, 8, 9].map((n) => partitionName('messages', monthsFromNow(n))));
    const attach = dry.actions[0]?.statements.find((s) => s.sql.includes('ATTACH PARTITION'));
    expect(attach?.locks).toMatch(/^SHARE UPDATE EXCLUSIVE on messages/);
    expect(dry.actions.every((a) => a.statements.every((s) => !/PARTITION OF/.test(s.sql)))).toBe(true);
    expect(await attached(admin, 'messages')).toEqual(before);
  });

  it('creates a month while a long reader holds the parent: no ACCESS EXCLUSIVE, unlike CREATE TABLE … PARTITION OF', async () => {
    const reader = await tdb.admin();
    const other = await tdb.admin();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM messages'); // ACCESS SHARE on the parent and every partition, until COMMIT
      const month = monthsFromNow(12);
      // The old way queues for ACCESS EXCLUSIVE behind the reader (and every later query behind it).
      await other.query(`SET lock_timeout = '300ms'`);
      const old = await other.query(`CREATE TABLE probe_partition PARTITION OF messages FOR VALUES FROM ('${monthStart(month).toISOString()}') TO ('${monthStart(monthsFromNow(13)).toISOString()}')`)
        .then(() => 'created', (err: unknown) => sqlState(err));
      expect(old).toBe('55P03');
      const started = Date.now();
      expect(await ensureMonthPartition(session, 'messages', month)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await attached(admin, 'messages')).toContain(partitionName('messages', month));
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
      await other.end();
    }
  });

  it('is safe to race: five creators of one month, one creates, none fails', async () => {
    const month = monthsFromNow(15);
    const clients = await Promise.all(Array.from({ length: 5 }, () => tdb.admin()));
    try {
      const results = await Promise.all(clients.map((c) => ensureMonthPartition(c, 'status_updates', month)));
      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('gives up with PARTITION_LOCK_TIMEOUT when the parent stays locked, without blocking writers meanwhile', async () => {
    const blocker = await tdb.admin();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE status_updates IN SHARE UPDATE EXCLUSIVE MODE');
      const creating = ensureMonthPartition(session, 'status_updates', monthsFromNow(18), {
        retry: { attempts: 4, firstTimeoutMs: 100, maxTimeoutMs: 200, budgetMs: 1_500 },
      }).then(() => null, (err: unknown) => err);
      await new Promise((r) => setTimeout(r, 150));
      const t0 = Date.now();
      await admin.query(`INSERT INTO status_updates (id, author_id, content, created_at) VALUES (gen_random_uuid(), $1, 'during', now())`, [IDS.user]);
      expect(Date.now() - t0).toBeLessThan(500);
      const err = await creating;
      expect(err).toBeInstanceOf(PartitionError);
      expect((err as PartitionError).code).toBe('PARTITION_LOCK_TIMEOUT');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
  });
});

describe('maintenance on a standby', () => {
  it('does nothing on a replica (pg_is_in_recovery)', async () => {
    const replica = await openDedicatedSession(tdb.replicaUrls[0] ?? '', { applicationName: 'bgc-partitions-test' });
    try {
      const report = await runMaintenance(replica, { config: config(), instanceId: 'test', trigger: 'test' });
      expect(report).toMatchObject({ skipped: 'replica', actions: [], runId: null });
    } finally {
      await replica.end();
    }
  });
});

describe('create on demand (withPartitionRetry)', () => {
  it('a row for a month with no partition is written: the month is created and the insert retried once', async () => {
    const db = new Database(config(), { applicationName: 'bgc-partitions-test', lazy: true });
    try {
      const month = monthsFromNow(24);
      const createdAt = new Date(monthStart(month).getTime() + 3_600_000);
      const params = [IDS.room, IDS.user, 'from the future', createdAt.toISOString()];
      const direct = await db.query(insertMessage, params).then(() => null, (err: unknown) => err);
      expect(isMissingPartitionError(direct, 'messages')).toBe(true);
      const rows = await withPartitionRetry(() => db.query<{ id: string }>(insertMessage, params), db, 'messages', createdAt);
      expect(rows).toHaveLength(1);
      expect(await attached(admin, 'messages')).toContain(partitionName('messages', month));
      const check = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE created_at = $1`, [createdAt.toISOString()]);
      expect(check.rows[0]?.n).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('does not mistake a CHECK violation for a missing partition, and refuses months past retention', async () => {
    const db = new Database(config(), { applicationName: 'bgc-partitions-test', lazy: true });
    try {
      const now = new Date();
      const bad = await withPartitionRetry(() => db.query(insertMessage, [IDS.room, IDS.user, '', now.toISOString()]), db, 'messages', now)
        .then(() => null, (err: unknown) => err);
      expect(sqlState(bad)).toBe('23514');
      expect(isMissingPartitionError(bad, 'messages')).toBe(false);
      const ancient = new Date(monthStart(monthsFromNow(-30)).getTime() + 1000);
      const refused = await withPartitionRetry(() => db.query(insertMessage, [IDS.room, IDS.user, 'old', ancient.toISOString()]), db, 'messages', ancient)
        .then(() => null, (err: unknown) => err);
      expect((refused as PartitionError).code).toBe('PARTITION_ARCHIVED');
      expect(await attached(admin, 'messages')).not.toContain(partitionName('messages', monthsFromNow(-30)));
    } finally {
      await db.close();
    }
  });
});
