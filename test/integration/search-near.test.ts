import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, startTestApp, type ApiResponse, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * GET /api/search near a point against earthdistance's own definition, on the 0.01° grid every
 * profile's location is rounded to for searches (migration 0030). search.profiles_near
 * writes out the bodies of ll_to_earth, earth_distance and earth_box instead of calling them per
 * row (src/repositories/search.repository.ts); these tests compare what the API returns, page by
 * page, with a query that calls the extension's functions: the same profiles, in the same order
 * (chord distance, then id), with the same distance_km, for radii that fall exactly on a
 * profile's distance, with pages that cut through profiles at the same spot, across the
 * antimeridian and together with free text.
 */
let t: TestApp;
let owner: TestUser;
const peers: TestUser[] = [];
const MAX_PAGES = 40;

interface Hit { id: string; distance_km: number }

async function collect(url: string, limit: number): Promise<Hit[]> {
  const items: Hit[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res: ApiResponse<PageBody<Hit>> = await t.call<PageBody<Hit>>('GET', `${url}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token: owner.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (cursor === null) return items;
  }
  throw new Error(`more than ${MAX_PAGES} pages for ${url}`);
}

/** A profile's point as searches see it: rounded to the 0.01° grid (PostgreSQL's round(float8): half to even). */
const GRID = 'll_to_earth(round(p.lat * 100::float8) / 100::float8, round(p.lng * 100::float8) / 100::float8)';

/** The definition, with earthdistance's functions: every peer within radiusM metres, nearest first. */
async function expected(lat: number, lng: number, radiusM: number, q: string | null = null): Promise<Hit[]> {
  const admin = await t.tdb.admin();
  try {
    const r = await admin.query<Hit>(
      `SELECT p.user_id::text AS id,
              round((earth_distance(ll_to_earth($1, $2), ${GRID}) / 1000)::numeric, 2)::float8 AS distance_km
         FROM profiles p
        WHERE p.user_id = ANY($4::uuid[]) AND p.lat IS NOT NULL AND p.lng IS NOT NULL
          AND earth_distance(ll_to_earth($1, $2), ${GRID}) <= $3
          AND ($5::text IS NULL OR p.search_vector @@ bgc_search_tsquery($5))
        ORDER BY ${GRID} <-> ll_to_earth($1, $2), p.user_id`,
      [lat, lng, radiusM, peers.map((p) => p.id), q]);
    return r.rows;
  } finally {
    await admin.end();
  }
}

async function distanceM(lat: number, lng: number, peer: TestUser): Promise<number> {
  const admin = await t.tdb.admin();
  try {
    const r = await admin.query<{ d: number }>(
      `SELECT earth_distance(ll_to_earth($1, $2), ${GRID}) AS d FROM profiles p WHERE user_id = $3`, [lat, lng, peer.id]);
    const d = r.rows[0]?.d;
    if (d === undefined) throw new Error('peer has no profile');
    return d;
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  t = await startTestApp('search_near');
  owner = await registerUser(t, 'nearowner');
  // Peers scattered around (40, -80) up to ~3° away, one at the centre, six sharing coordinates
  // (ties broken by id, across page boundaries), and three across the antimeridian near (0, 179.9).
  const spots: Array<[number, number]> = [
    [40, -80], [40.01, -80], [40.01, -80], [39.9, -80.2], [41.2, -79.1], [38.5, -81.7],
    [40.3, -77.2], [42.9, -80.05], [40.0005, -79.9995], [37.2, -80.0], [40.7, -82.6], [39.05, -78.4],
    [0, 179.9], [0.1, -179.95], [-0.2, 179.7],
    [40.01, -80], [40.01, -80], [40.01, -80], [40.01, -80],
  ];
  for (const [i, [lat, lng]] of spots.entries()) {
    const p = await registerUser(t, `nearpeer${i}`);
    peers.push(p);
    const bio = i % 3 === 0 ? 'I play the zither on weekends' : 'I like long walks';
    const res = await t.call('PUT', '/api/profiles/me', { token: p.token, body: { lat, lng, bio } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
  await t.tdb.syncReplicas();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('search near a point matches earthdistance', () => {
  it('same profiles, order and distance_km across pages for several radii', async () => {
    for (const radiusKm of [0.5, 25, 120, 250, 500]) {
      const want = await expected(40, -80, radiusKm * 1000);
      for (const limit of [2, 3]) {
        const got = await collect(`/api/search?lat=40&lng=-80&radius_km=${radiusKm}`, limit);
        expect(got.map((h) => [h.id, h.distance_km]), `radius ${radiusKm} km, pages of ${limit}`).toEqual(want.map((h) => [h.id, h.distance_km]));
      }
    }
    // The widest radius reaches all sixteen peers around (40, -80), none of the three near 180°.
    expect((await expected(40, -80, 500_000)).length).toBe(16);
  });

  it('a radius exactly at a profile\'s distance includes it as earth_distance does', async () => {
    for (const k of [4, 7, 10]) {
      const peer = peers[k];
      if (!peer) throw new Error('missing peer');
      const d = await distanceM(40, -80, peer);
      const radiusKm = d / 1000;
      // The service multiplies radius_km by 1000; the definition gets the same float8.
      const want = await expected(40, -80, radiusKm * 1000);
      const got = await collect(`/api/search?lat=40&lng=-80&radius_km=${radiusKm}`, 4);
      expect(got.map((h) => [h.id, h.distance_km])).toEqual(want.map((h) => [h.id, h.distance_km]));
    }
  });

  it('never reveals more of a location than its grid point: searched from the exact spot, a profile is its grid point\'s distance away', async () => {
    // Peer 8 lives at (40.0005, -79.9995); its grid point is (40, -80), about 69 m away.
    const got = await collect('/api/search?lat=40.0005&lng=-79.9995&radius_km=0.5', 10);
    const peer8 = got.find((h) => h.id === peers[8]?.id);
    // Before: 0 km, and three such searches (or the cursor's exact distance) located anyone to the metre.
    expect(peer8?.distance_km).toBeCloseTo(0.07, 2);
    expect(got.filter((h) => h.distance_km === 0)).toEqual([]);
  });

  it('across the antimeridian, and together with free text', async () => {
    const want = await expected(0, 180, 60_000);
    expect(want.length).toBe(3);
    const got = await collect('/api/search?lat=0&lng=180&radius_km=60', 2);
    expect(got.map((h) => [h.id, h.distance_km])).toEqual(want.map((h) => [h.id, h.distance_km]));

    const wantText = await expected(40, -80, 400_000, 'zither');
    expect(wantText.length).toBeGreaterThan(0);
    const gotText = await collect('/api/search?lat=40&lng=-80&radius_km=400&q=zither', 2);
    expect(gotText.map((h) => [h.id, h.distance_km])).toEqual(wantText.map((h) => [h.id, h.distance_km]));
  });
});
