import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';
import { newestLsn } from '../helpers/write-position.ts';

/**
 * Profile ratings (issue 20) on the real stack: the rules (1..5, one per rater and
 * profile, changeable, not your own, not across a block, not a profile you may not see),
 * the average and count under concurrent ratings, and the cached profile view being
 * replaced as soon as a rating commits.
 */
let t: TestApp;

interface RatingBody { user_id: string; score: number | null; rating: { average: number | null; count: number } }
interface ProfileBody { id: string; rating: { average: number | null; count: number } }

const rate = (by: TestUser, who: string, score: unknown) => t.call<RatingBody>('PUT', `/api/profiles/${who}/rating`, { token: by.token, body: { score } });
/** `lsn`: other users' ratings this read must see (a reader's own writes are followed by the app). */
const profile = (by: TestUser, who: string, lsn?: string) => t.call<ProfileBody>('GET', `/api/profiles/${who}`, { token: by.token, lsn });

/** Executions of the profile view's statement so far (a cache miss runs it; a hit does not). */
async function profileLoads(): Promise<number> {
  const got = await t.rt.deps.metrics.dbQueryDuration.get();
  return got.values
    .filter((v) => v.metricName === 'bgc_db_query_duration_seconds_count' && v.labels.query === 'profile.get')
    .reduce((s, v) => s + v.value, 0);
}

/** The average as PostgreSQL's round(avg, 2) gives it. */
const avg2 = (scores: number[]) => Math.round((scores.reduce((s, x) => s + x, 0) / scores.length) * 100) / 100;

beforeAll(async () => {
  t = await startTestApp('ratings', { BGC_CACHE_WARM_COUNT: '0' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('rating a profile', () => {
  it('accepts 1..5, one rating per rater that can be changed and withdrawn', async () => {
    const [owner, a, b] = await Promise.all([registerUser(t, 'rt_own'), registerUser(t, 'rt_a'), registerUser(t, 'rt_b')]);
    const r1 = await rate(a, owner.id, 5);
    expect(r1.status, JSON.stringify(r1.body)).toBe(200);
    expect(r1.body).toEqual({ user_id: owner.id, score: 5, rating: { average: 5, count: 1 } });
    const r2 = await rate(b, owner.id, 2);
    expect(r2.body.rating).toEqual({ average: 3.5, count: 2 });
    // Rating again changes the one rating, it does not add a second.
    const r3 = await rate(a, owner.id, 1);
    expect(r3.body).toEqual({ user_id: owner.id, score: 1, rating: { average: 1.5, count: 2 } });
    const mine = await t.call<RatingBody>('GET', `/api/profiles/${owner.id}/rating`, { token: a.token, lsn: r3.lsn });
    expect(mine.body).toEqual({ user_id: owner.id, score: 1, rating: { average: 1.5, count: 2 } });
    // The owner's own last write (registering) is older than the ratings: read at the last one's position.
    const seen = await profile(owner, owner.id, r3.lsn);
    expect(seen.body.rating).toEqual({ average: 1.5, count: 2 });

    const gone = await t.call<RatingBody>('DELETE', `/api/profiles/${owner.id}/rating`, { token: a.token });
    expect(gone.status).toBe(200);
    expect(gone.body).toEqual({ user_id: owner.id, score: null, rating: { average: 2, count: 1 } });
    const again = await t.call<RatingBody>('DELETE', `/api/profiles/${owner.id}/rating`, { token: a.token });
    expect(again.body.rating).toEqual({ average: 2, count: 1 });
    const none = await t.call<RatingBody>('GET', `/api/profiles/${owner.id}/rating`, { token: a.token, lsn: gone.lsn });
    expect(none.body.score).toBeNull();
  });

  it('refuses bad scores, your own profile, unknown users and unauthenticated calls with a code', async () => {
    const [owner, a] = await Promise.all([registerUser(t, 'rt_own'), registerUser(t, 'rt_a')]);
    for (const bad of [0, 6, 2.5, '3', null, -1]) expectError(await rate(a, owner.id, bad), 400, 'VALIDATION_FAILED');
    expectError(await t.call('PUT', `/api/profiles/${owner.id}/rating`, { token: a.token, body: { score: 3, extra: 1 } }), 400, 'VALIDATION_FAILED');
    expectError(await t.call('PUT', `/api/profiles/${owner.id}/rating`, { token: a.token }), 400, 'VALIDATION_FAILED');
    expectError(await rate(a, a.id, 4), 400, 'VALIDATION_FAILED');
    expectError(await rate(a, '01939262-4be4-767d-a1f7-4556b1b77d0f', 4), 404, 'NOT_FOUND');
    expectError(await rate(a, 'not-a-uuid', 4), 400, 'VALIDATION_FAILED');
    expectError(await t.call('PUT', `/api/profiles/${owner.id}/rating`, { body: { score: 3 } }), 401, 'UNAUTHENTICATED');
    const admin = await t.tdb.admin();
    try {
      const rows = await admin.query('SELECT count(*)::int AS n FROM profile_ratings WHERE rated_id = $1', [owner.id]);
      expect(rows.rows[0].n).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('never across a block, in either direction, and only profiles you may see', async () => {
    const [owner, blocker, blocked, stranger] = await Promise.all([
      registerUser(t, 'rt_own'), registerUser(t, 'rt_blr'), registerUser(t, 'rt_bld'), registerUser(t, 'rt_str'),
    ]);
    expect((await t.call('POST', `/api/social/block/${owner.id}`, { token: blocker.token })).status).toBe(200);
    expect((await t.call('POST', `/api/social/block/${blocked.id}`, { token: owner.token })).status).toBe(200);
    // You blocked them: refused as blocked. They blocked you: their profile does not exist for you.
    expectError(await rate(blocker, owner.id, 3), 403, 'BLOCKED');
    expectError(await rate(blocked, owner.id, 3), 404, 'NOT_FOUND');

    const priv = await t.call<ProfileBody>('PUT', '/api/profiles/me', { token: owner.token, body: { privacy_level: 'private' } });
    expect(priv.status).toBe(200);
    expectError(await rate(stranger, owner.id, 3), 403, 'FORBIDDEN');
    // Withdrawing answers with the profile's average: refused where reading it is (it answered 200 with the rating).
    expectError(await t.call('DELETE', `/api/profiles/${owner.id}/rating`, { token: stranger.token }), 403, 'FORBIDDEN');
    const friendsOnly = await t.call('PUT', '/api/profiles/me', { token: owner.token, body: { privacy_level: 'friends' } });
    expect(friendsOnly.status).toBe(200);
    expectError(await rate(stranger, owner.id, 3), 403, 'FORBIDDEN');
    const back = await t.call('PUT', '/api/profiles/me', { token: owner.token, body: { privacy_level: 'public' } });
    expect(back.status).toBe(200);
    expect((await rate(stranger, owner.id, 3)).status).toBe(200);

    // A block made after the rating: the rating stays, but it can no longer be changed.
    expect((await t.call('POST', `/api/social/block/${stranger.id}`, { token: owner.token })).status).toBe(200);
    expectError(await rate(stranger, owner.id, 5), 404, 'NOT_FOUND');
    expectError(await t.call('DELETE', `/api/profiles/${owner.id}/rating`, { token: stranger.token }), 404, 'NOT_FOUND');
  });
});

describe('consistency', () => {
  it('keeps the average and count exact under concurrent ratings of one profile', async () => {
    const owner = await registerUser(t, 'rt_hot');
    const raters = await Promise.all(Array.from({ length: 24 }, (_, i) => registerUser(t, `rt_c${i}`)));
    const first = raters.map((_, i) => (i % 5) + 1);
    const started = performance.now();
    const res = await Promise.all(raters.map((r, i) => rate(r, owner.id, first[i] as number)));
    // Every rater then changes their score at the same time as everyone else.
    const second = raters.map((_, i) => ((i * 3) % 5) + 1);
    const res2 = await Promise.all(raters.map((r, i) => rate(r, owner.id, second[i] as number)));
    console.log(`[ratings] ${raters.length * 2} concurrent ratings in ${(performance.now() - started).toFixed(0)} ms`);
    expect([...res, ...res2].map((r) => r.status)).toEqual(Array(raters.length * 2).fill(200));

    const admin = await t.tdb.admin();
    try {
      const row = await admin.query('SELECT count(*)::int AS n, round(avg(score), 2)::float8 AS a FROM profile_ratings WHERE rated_id = $1', [owner.id]);
      expect(row.rows[0]).toEqual({ n: raters.length, a: avg2(second) });
    } finally {
      await admin.end();
    }
    // Other raters' writes may be newer than this rater's own: read at the newest position.
    const seen = await profile(raters[0] as TestUser, owner.id, newestLsn(res2));
    expect(seen.body.rating).toEqual({ average: avg2(second), count: raters.length });
  });

  it('one rater changing their score concurrently keeps one rating', async () => {
    const [owner, a] = await Promise.all([registerUser(t, 'rt_own'), registerUser(t, 'rt_a')]);
    const scores = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5];
    const res = await Promise.all(scores.map((s) => rate(a, owner.id, s)));
    expect(res.map((r) => r.status)).toEqual(scores.map(() => 200));
    const seen = await profile(owner, owner.id, newestLsn(res));
    expect(seen.body.rating.count).toBe(1);
    expect(scores).toContain(seen.body.rating.average);
  });

  it('replaces the cached profile view as soon as a rating commits', async () => {
    const [owner, viewer, rater] = await Promise.all([registerUser(t, 'rt_own'), registerUser(t, 'rt_view'), registerUser(t, 'rt_r')]);
    expect((await rate(rater, owner.id, 4)).status).toBe(200);
    const before = await profile(viewer, owner.id);
    expect(before.body.rating).toEqual({ average: 4, count: 1 });
    // The view is cached now: a second read does not run profile.get.
    const loads = await profileLoads();
    expect((await profile(viewer, owner.id)).body.rating).toEqual({ average: 4, count: 1 });
    expect(await profileLoads()).toBe(loads);

    // Another user's rating: the viewer (who wrote nothing, so read-your-writes does not
    // apply to them) sees it on the very next read.
    const changed = await rate(rater, owner.id, 2);
    expect(changed.body.rating).toEqual({ average: 2, count: 1 });
    const after = await profile(viewer, owner.id);
    expect(after.body.rating).toEqual({ average: 2, count: 1 });
    expect(await profileLoads()).toBeGreaterThan(loads);

    await t.call('DELETE', `/api/profiles/${owner.id}/rating`, { token: rater.token });
    expect((await profile(viewer, owner.id)).body.rating).toEqual({ average: null, count: 0 });
  });
});
