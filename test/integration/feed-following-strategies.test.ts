import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { FeedRepository, feedQueries, type PostRow } from '../../src/repositories/feed.repository.ts';
import { DAY_MS, nextWindowCursor, openWindow, type Window } from '../../src/services/time-window.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * feed.following picks its plan inside the statement (feed.repository.ts): a bounded walk of
 * the timeline, per-author probes when that walk comes back short, an unbounded walk above
 * F = 2·√N followed authors, checking each row with a relationships probe above F = 8·√N.
 * Each viewer below lands on one of them (checked on the executed plan), and every page,
 * followed by its cursor, must be exactly the feed's definition: the newest posts of the
 * viewer and of their accepted friends and favourites, without group posts or hidden posts.
 */
let tdb: TestDatabase;
let admin: pg.Client;
let db: Database;
let feed: FeedRepository;

const USERS = 130; // 2·√130 ≈ 22.8, 8·√130 ≈ 91.2 once users is analysed
const uid = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const PAGE = 20;

/** The feed's definition, one page: no strategy, just the filter and the order. */
const REFERENCE = `
SELECT s.id FROM status_updates s
WHERE s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
  AND (s.created_at, s.id) < ($3::timestamptz, $4::uuid)
  AND s.group_id IS NULL AND s.hidden_at IS NULL
  AND (s.author_id = $1 OR s.author_id IN (
    SELECT r.target_id FROM relationships r
    WHERE r.user_id = $1 AND ((r.kind = 'friend' AND r.status = 'accepted') OR r.kind = 'favorite')))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5`;

interface PlanNode { 'Node Type': string; 'Index Name'?: string; 'Actual Loops': number; Plans?: PlanNode[] }

/** Index name -> loops, for the index scans the statement ran for this viewer's first page. */
async function executedIndexes(viewer: string, w: Window): Promise<Map<string, number>> {
  const res = await admin.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) ${feedQueries.following.text}`,
    [viewer, w.lowerTs, w.upperTs, w.upperId, PAGE + 1]);
  const loops = new Map<string, number>();
  const visit = (n: PlanNode): void => {
    if (n['Index Name'] && n['Actual Loops'] > 0) loops.set(n['Index Name'], (loops.get(n['Index Name']) ?? 0) + n['Actual Loops']);
    n.Plans?.forEach(visit);
  };
  const root = res.rows[0]?.['QUERY PLAN'][0];
  if (!root) throw new Error('no plan');
  visit(root.Plan);
  return loops;
}

const ran = (loops: Map<string, number>, pattern: RegExp): number =>
  [...loops].filter(([name]) => pattern.test(name)).reduce((a, [, n]) => a + n, 0);

/** Pages through the viewer's feed as the service does; each page must equal the definition. */
async function pagesMatchDefinition(viewer: string): Promise<number> {
  const floorMs = Date.now() - 90 * DAY_MS;
  let w = openWindow(undefined, 31);
  let total = 0;
  for (let page = 0; page < 20; page++) {
    const params = [viewer, w.lowerTs, w.upperTs, w.upperId, PAGE + 1];
    const got: PostRow[] = await feed.following(viewer, w, PAGE + 1, {});
    const want = (await admin.query<{ id: string }>(REFERENCE, params)).rows.map((r) => r.id);
    expect(got.map((r) => r.id)).toEqual(want);
    total += Math.min(got.length, PAGE);
    const next = nextWindowCursor(w, got, PAGE, floorMs);
    if (!next) break;
    w = openWindow(next, 31);
  }
  return total;
}

beforeAll(async () => {
  tdb = await createTestDatabase('feed_following');
  admin = await tdb.admin();
  await admin.query(`
    INSERT INTO users (id, email, username, password_hash)
    SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'f' || i || '@example.test', 'f' || i, 'x'
    FROM generate_series(0, $1::int - 1) i`, [USERS]);
  await admin.query(`INSERT INTO community_groups (id, name, owner_id) VALUES ($1, 'g', $2)`, [uid(9999), uid(1)]);
  // The newest day: 200 posts by a crowd (users 100-129). Days 2-6: three posts by each of
  // users 0-99. Users 1-5 also wrote the very newest posts, but in a group or hidden.
  await admin.query(`
    INSERT INTO status_updates (id, author_id, content, created_at)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((100 + i % 30)::text, 12, '0'))::uuid, 'crowd ' || i,
           now() - make_interval(mins => i * 5)
    FROM generate_series(1, 200) i`);
  await admin.query(`
    INSERT INTO status_updates (id, author_id, content, created_at)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, 'post ' || u || '/' || k,
           now() - interval '1 day' - make_interval(mins => u * 37 + k * 1440)
    FROM generate_series(0, 99) u, generate_series(1, 3) k`);
  await admin.query(`
    INSERT INTO status_updates (id, author_id, content, created_at, group_id, hidden_at)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, 'not in feeds',
           now() - make_interval(secs => u), CASE WHEN u % 2 = 0 THEN $1::uuid END, CASE WHEN u % 2 = 1 THEN now() END
    FROM generate_series(1, 5) u`, [uid(9999)]);
  const follow = (from: number, to: number, kind: 'friend' | 'favorite', status = 'accepted') =>
    admin.query(`INSERT INTO relationships (user_id, target_id, kind, status) VALUES ($1, $2, $3, $4)`, [uid(from), uid(to), kind, status]);
  // user 0: friends 1-3, a pending friend 4 (not followed), 5 as friend and favourite (once).
  for (const t of [1, 2, 3]) await follow(0, t, 'friend');
  await follow(0, 4, 'friend', 'pending');
  await follow(0, 5, 'friend');
  await follow(0, 5, 'favorite');
  // user 100 (in the crowd): favourites 101-110, a third of the crowd.
  for (let t = 101; t <= 110; t++) await follow(100, t, 'favorite');
  // user 111: 40 friends (wide); user 112: 100 favourites (wide, probed).
  await admin.query(`INSERT INTO relationships (user_id, target_id, kind) SELECT $1, ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'friend' FROM generate_series(0, 39) t`, [uid(111)]);
  await admin.query(`INSERT INTO relationships (user_id, target_id, kind) SELECT $1, ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'favorite' FROM generate_series(0, 99) t`, [uid(112)]);
  await admin.query('ANALYZE users, status_updates, relationships');
  db = new Database(tdb.config({ DATABASE_REPLICA_URLS: '' }), { applicationName: 'bgc-test-feed-following' });
  await db.start();
  feed = new FeedRepository(db);
});

afterAll(async () => {
  await db?.close();
  await admin?.end();
  await tdb?.drop();
});

describe('feed.following strategies', () => {
  it('a walk that comes back short falls back to per-author probes; pages equal the definition', async () => {
    const plan = await executedIndexes(uid(0), openWindow(undefined, 31));
    expect(ran(plan, /author_id_created_at_id_idx/)).toBeGreaterThan(0);
    // Self, friends 1-3 and 5: three posts each, no group, hidden or pending friend's post.
    expect(await pagesMatchDefinition(uid(0))).toBe(15);
  });

  it('a walk that fills the page answers alone, without probes', async () => {
    const plan = await executedIndexes(uid(100), openWindow(undefined, 31));
    expect(ran(plan, /created_at_id_idx/)).toBeGreaterThan(0);
    expect(ran(plan, /author_id_created_at_id_idx/)).toBe(0);
    expect(await pagesMatchDefinition(uid(100))).toBeGreaterThan(PAGE);
  });

  it('above 2·√N followed authors the unbounded walk answers (hashed set)', async () => {
    const plan = await executedIndexes(uid(111), openWindow(undefined, 31));
    expect(ran(plan, /author_id_created_at_id_idx/)).toBe(0);
    expect(ran(plan, /^relationships_following_idx$/)).toBe(1);
    // 40 friends' three posts each, and its own 7 in the crowd.
    expect(await pagesMatchDefinition(uid(111))).toBe(40 * 3 + 7);
  });

  it('above 8·√N the walk probes relationships per row instead', async () => {
    const plan = await executedIndexes(uid(112), openWindow(undefined, 31));
    expect(ran(plan, /author_id_created_at_id_idx/)).toBe(0);
    expect(ran(plan, /^relationships_following_idx$/)).toBeGreaterThan(PAGE);
    expect(await pagesMatchDefinition(uid(112))).toBe(100 * 3 + 7);
  });
});
