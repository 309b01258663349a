import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, startTestApp, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * What profile search finds after a profile edit: the stored values and the search input
 * are normalised the same way, so an edit never makes a profile unfindable by what it shows.
 */
let t: TestApp;
let viewer: TestUser;

interface SearchHit { id: string; username: string; display_name: string | null; city: string | null; state: string | null }
interface ProfileBody { city: string | null; state: string | null; ethnicity: string | null }

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query<T>(text, params)).rows;
  } finally {
    await admin.end();
  }
}

async function searchIds(query: string, lsn?: string): Promise<string[]> {
  const res = await t.call<PageBody<SearchHit>>('GET', `/api/search?${query}`, { token: viewer.token, ...(lsn ? { lsn } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items.map((i) => i.id);
}

beforeAll(async () => {
  t = await startTestApp('profile_search', { BGC_CACHE_WARM_COUNT: '0' });
  viewer = await registerUser(t, 'viewer');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('city and state', () => {
  it('are stored trimmed, so a padded city is found by the plain name and by padded input', async () => {
    const u = await registerUser(t, 'padded');
    const put = await t.call<ProfileBody>('PUT', '/api/profiles/me', {
      token: u.token, body: { city: ' Austin ', state: 'TX ', ethnicity: '  ' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ city: 'Austin', state: 'TX', ethnicity: null });
    expect(await searchIds('city=Austin&state=TX', put.lsn)).toContain(u.id);
    expect(await searchIds(`city=${encodeURIComponent(' Austin ')}&state=${encodeURIComponent('TX ')}`, put.lsn)).toContain(u.id);
  });

  it('migration 0033 trims the rows stored before (blank becomes NULL), and changes no other row', async () => {
    const a = await registerUser(t, 'oldpad');
    const b = await registerUser(t, 'clean');
    await sql(`UPDATE profiles SET city = E' Dallas\\t', state = 'TX  ', ethnicity = ' ' WHERE user_id = $1`, [a.id]);
    await sql(`UPDATE profiles SET city = 'El Paso', state = 'TX' WHERE user_id = $1`, [b.id]);
    const before = await sql<{ xmin: string }>('SELECT xmin::text FROM profiles WHERE user_id = $1', [b.id]);
    await sql(readFileSync(path.join(import.meta.dirname, '../../migrations/0033_profiles_trim_places.sql'), 'utf8'));
    const rows = await sql<{ user_id: string; city: string; state: string; ethnicity: string | null; xmin: string }>(
      'SELECT user_id, city, state, ethnicity, xmin::text FROM profiles WHERE user_id = ANY($1) ORDER BY city', [[a.id, b.id]]);
    expect(rows.map(({ xmin: _x, ...r }) => r)).toEqual([
      { user_id: a.id, city: 'Dallas', state: 'TX', ethnicity: null },
      { user_id: b.id, city: 'El Paso', state: 'TX', ethnicity: null },
    ]);
    expect(rows.find((r) => r.user_id === b.id)?.xmin).toBe(before[0]?.xmin);
  });
});

describe('free text', () => {
  it('finds a profile by its username and by its display name after the display name changed', async () => {
    const u = await registerUser(t, 'renamed');
    const put = await t.call<{ display_name: string }>('PUT', '/api/profiles/me', { token: u.token, body: { display_name: 'Zebulon Quartz' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(await searchIds(`q=${encodeURIComponent(u.username)}`, put.lsn)).toContain(u.id);
    expect(await searchIds('q=zebulon%20quartz', put.lsn)).toContain(u.id);
    // Any later edit keeps both: the username is part of every version of the search document.
    const bio = await t.call('PUT', '/api/profiles/me', { token: u.token, body: { bio: 'Collects minerals.', display_name: null } });
    expect(bio.status, JSON.stringify(bio.body)).toBe(200);
    expect(await searchIds(`q=${encodeURIComponent(u.username)}%20minerals`, bio.lsn)).toContain(u.id);
    expect(await searchIds('q=zebulon', bio.lsn)).not.toContain(u.id);
  });

  it('finds a name with dots in it by each part and by the whole (migration 0039)', async () => {
    const username = `j.dot${process.pid}.smith`;
    const reg = await t.call<{ token: string; user: { id: string } }>('POST', '/api/auth/register', {
      body: { email: `dotted${process.pid}@example.test`, username, password: 'correct Horse 42' },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const id = reg.body.user.id;
    // Before: the parser kept the name as one token, and the split input never matched it.
    expect(await searchIds(`q=${encodeURIComponent(username)}`)).toContain(id);
    expect(await searchIds(`q=dot${process.pid}`)).toContain(id);
    const put = await t.call('PUT', '/api/profiles/me', { token: reg.body.token, body: { display_name: 'J.R. Tolkien-Smith' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(await searchIds(`q=tolkien%20dot${process.pid}`, put.lsn)).toContain(id);
  });

  it('free text without a letter or digit is no filter, as blank text is', async () => {
    const u = await registerUser(t, 'nowords');
    const city = `Wordless${process.pid}`;
    const put = await t.call('PUT', '/api/profiles/me', { token: u.token, body: { city } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(await searchIds(`city=${city}&q=%20%20`, put.lsn)).toContain(u.id);
    // Before: [] for each, though the same search with blank text found the profile.
    for (const q of ['--', '%F0%9F%8E%B8', '...']) expect(await searchIds(`city=${city}&q=${q}`, put.lsn), q).toContain(u.id);
  });

  it('keeps the username copy in step with users, whatever inserted the profile', async () => {
    const u = await registerUser(t, 'copy');
    const [row] = await sql<{ username: string }>('SELECT username FROM profiles WHERE user_id = $1', [u.id]);
    expect(row?.username).toBe(u.username);
    // An operator's rename reaches the search document.
    await sql('UPDATE users SET username = $2 WHERE id = $1', [u.id, `${u.username}_x`]);
    const [renamed] = await sql<{ hit: boolean }>(
      'SELECT search_vector @@ bgc_search_tsquery($2) AS hit FROM profiles WHERE user_id = $1', [u.id, `${u.username}_x`]);
    expect(renamed?.hit).toBe(true);
  });
});
