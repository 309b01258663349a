import type pg from 'pg';
import { openDedicatedSession } from '../../src/db/leader-lock.ts';
import { addMonths, monthOf, monthStart, type MonthRef } from '../../src/partitions/naming.ts';
import type { TestDatabase } from './test-db.ts';

/** Rows every partition test writes against: one user, one conversation, one chat room. */
export const IDS = {
  user: '00000000-0000-7000-8000-000000000001',
  user2: '00000000-0000-7000-8000-000000000002',
  conversation: '00000000-0000-7000-8000-0000000000c1',
  room: '00000000-0000-7000-8000-0000000000a1',
} as const;

export async function seedBase(c: pg.ClientBase): Promise<void> {
  await c.query(`INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'p1@example.test', 'p1', 'x'), ($2, 'p2@example.test', 'p2', 'x')`, [IDS.user, IDS.user2]);
  await c.query(`INSERT INTO conversations (id, user_low, user_high) VALUES ($1, $2, $3)`, [IDS.conversation, IDS.user, IDS.user2]);
  await c.query(`INSERT INTO chat_rooms (id, name, created_by) VALUES ($1, 'room', $2)`, [IDS.room, IDS.user]);
}

export function monthsFromNow(n: number, now = new Date()): MonthRef {
  return addMonths(monthOf(now), n);
}

/**
 * `n` messages spread over the month. Content holds quotes, commas, newlines and
 * backslashes so the CSV export, the record counter and the reload see the hard cases.
 */
export async function fillMessages(c: pg.ClientBase, month: MonthRef, n: number): Promise<void> {
  await c.query(
    `INSERT INTO messages (id, conversation_id, room_id, sender_id, content, metadata, created_at)
     SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN $1::uuid END, CASE WHEN g % 2 = 1 THEN $2::uuid END, $3,
            'msg ' || g || E', "quoted"\nline two \\ end', jsonb_build_object('g', g, 'note', E'a,b\n"c"'),
            $4::timestamptz + (g * ($5::float8 / ($6 + 1))) * interval '1 second'
     FROM generate_series(1, $6::int) g`,
    [IDS.conversation, IDS.room, IDS.user, monthStart(month).toISOString(), (monthStart(addMonths(month, 1)).getTime() - monthStart(month).getTime()) / 1000, n]);
}

/** `n` posts in the month, each with `comments` comments pointing at it by (post_id, post_created_at). */
export async function fillPosts(c: pg.ClientBase, month: MonthRef, n: number, comments: number): Promise<void> {
  await c.query(
    `WITH posts AS (
       INSERT INTO status_updates (id, author_id, content, created_at, comment_count)
       SELECT gen_random_uuid(), $1, 'post ' || g || E'\n,"x"', $2::timestamptz + g * interval '1 hour', $3
       FROM generate_series(1, $4::int) g RETURNING id, created_at)
     INSERT INTO post_comments (id, post_id, post_created_at, author_id, content, created_at)
     SELECT gen_random_uuid(), p.id, p.created_at, $5, 'comment ' || k, p.created_at + k * interval '1 minute'
     FROM posts p, generate_series(1, $3::int) k`,
    [IDS.user, monthStart(month).toISOString(), comments, n, IDS.user2]);
}

export interface Counts { messages: number; status_updates: number; post_comments: number }

export async function counts(c: pg.ClientBase): Promise<Counts> {
  const { rows } = await c.query<{ m: number; s: number; p: number }>(
    `SELECT (SELECT count(*) FROM messages)::int AS m, (SELECT count(*) FROM status_updates)::int AS s, (SELECT count(*) FROM post_comments)::int AS p`);
  const r = rows[0] ?? { m: 0, s: 0, p: 0 };
  return { messages: r.m, status_updates: r.s, post_comments: r.p };
}

/** Names of the attached partitions of a parent, sorted. */
export async function attached(c: pg.ClientBase, parent: string): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`, [parent]);
  return rows.map((r) => r.name);
}

/** The unpooled maintenance session the job and the CLI use. */
export function maintenanceSession(tdb: TestDatabase): Promise<pg.Client> {
  return openDedicatedSession(tdb.primaryUrl, { applicationName: 'bgc-partitions-test', statementTimeoutMs: 0 });
}
