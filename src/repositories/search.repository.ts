import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import type { ProfileRow } from './profiles.repository.ts';
import { iso } from './sql-fragments.ts';

/**
 * Profile search: every filter is optional and written `($n IS NULL OR …)`. Those
 * clauses fold away when the planner sees the parameter values (a custom plan), which
 * leaves only the filters in use, each backed by its own index:
 *   interests / roles / metadata → GIN jsonb_path_ops (`@>` containment),
 *   q → GIN on search_vector, city/state → B-tree (state, city, last_active_at, user_id),
 *   which also yields a city's profiles in page order (migration 0022), age → B-tree birthdate,
 *   lat/lng/radius → GiST on earth_point_grid(lat, lng) (ll_to_earth's body on the 0.01° grid, 0030) via earth_box, refined by earth_distance.
 * The viewer's friend and block sets, built once per statement whatever the filters, are
 * index-only ranges of relationships_owner_cover_idx / relationships_target_cover_idx (0025).
 * The app sends these entries unnamed: a generic plan walks the whole activity order (~100k
 * buffers per search_multi on `large`, docs/PERFORMANCE.md "search_multi on `large`").
 *
 * Free text: search_vector mixes two configurations — username, display name, city and
 * state under 'simple' (no stemming), bio under 'english' (stemmed). The username is
 * profiles.username, a copy kept from users by a trigger (migration 0034), so a user who
 * changes their display name is still found by the name shown beside their content. A plain
 * websearch_to_tsquery('english', q) stems "Alice" to 'alic' and misses the name. So each
 * word of q becomes (english form | simple form) and the words are AND-ed: "alice
 * running" finds Alice whose bio says "runs". English stop words are dropped; at most 8
 * words count. websearch operators (quotes, OR, -) are not supported. The tsquery comes
 * from bgc_search_tsquery($1) (migrations/0011), folded at plan time (see there).
 *
 * Two orders, two entries with the same parameters ($13/$14 are the keyset position):
 *  - search.profiles: most recently active first, keyset (last_active_at, user_id);
 *  - search.profiles_near (lat/lng given): nearest first, keyset (chord distance, user_id).
 *    The GiST index returns rows in distance order (cube `<->`, KNN) inside the radius
 *    box, so a page reads about `limit` rows however dense the area is; ordering a dense
 *    city's profiles by activity would read every one of them.
 */
/**
 * earthdistance's ll_to_earth and sec_to_gc are SQL functions that these plans do not inline
 * (EXPLAIN shows the calls), so each one the executor meets runs through the SQL-function
 * executor: ll_to_earth(p.lat, p.lng) costs about 3.7 µs a row against 0.6 µs for its body
 * written out (100,000 rows: 411 ms against 100 ms, 40 ms of it the scan), and a near search
 * evaluated it 3–5 times per candidate row (recheck, keyset, distance, output) plus sec_to_gc
 * once; planning ran ll_to_earth($10, $11) five times. Below are the functions' bodies written
 * out (earth_distance, earth_box, ll_to_earth, and earth() as its value): the same operations in
 * the same order, so the same float8 values (the `earth` domain's check, that the cube is a point
 * of at most 3 dimensions, holds for every ll_to_earth result). The indexed call itself
 * (INDEXED: earth_point_grid, ll_to_earth's body on the grid) stays where profiles_location_gist must match it: the
 * box condition and the KNN order.
 */
/** earth(), earthdistance's radius in metres (`SELECT '6378168'::float8`). */
const R = `'6378168'::float8`;
const point = (lat: string, lng: string): string =>
  `cube(cube(cube(${R}*cos(radians(${lat}))*cos(radians(${lng}))),${R}*cos(radians(${lat}))*sin(radians(${lng}))),${R}*sin(radians(${lat})))`;
/**
 * sec_to_gc(chord), a chord through the earth in metres as the great-circle distance:
 * `CASE WHEN d < 0 THEN 0 WHEN d/(2R) > 1 THEN pi()*R ELSE 2*R*asin(d/(2R)) END`, with d written
 * once: a chord (cube_distance, a square root) is never negative, and past a half turn
 * (2R)·asin(1) is pi()·R to the bit (asin(1) is the double nearest π/2, half the double nearest
 * π, and doubling is exact), so the result is the same float8 for every chord.
 */
const greatCircle = (chord: string): string => `(2*${R}*asin(least(${chord}/(2*${R}), 1::float8)))`;
const CENTER = point('$10::float8', '$11::float8');
/**
 * The indexed expression (profiles_location_gist): only where the index must match it.
 * earth_point is ll_to_earth with its names resolved at creation (migrations/0029), so that
 * autovacuum, which runs with search_path = pg_catalog, can evaluate the index's expression.
 */
const INDEXED = 'earth_point_grid(p.lat, p.lng)';
/**
 * A profile's location as the near search sees it: rounded to a 0.01° grid (migration 0030),
 * so no number of searches from chosen points reveals more than the grid point. The same
 * float8 operations as earth_point_grid, so HERE and INDEXED agree to the bit.
 */
const grid = (x: string): string => `(round(${x} * 100::float8) / 100::float8)`;
const HERE = point(grid('p.lat'), grid('p.lng'));
/** earth_distance(center, here), in metres. */
const DISTANCE = greatCircle(`cube_distance(${CENTER}, ${HERE})`);
/** earth_box(center, $12): cube_enlarge(center, gc_to_sec(radius), 3). */
const BOX = `cube_enlarge(${CENTER}, gc_to_sec($12::float8), 3)`;

const COLUMNS = `
SELECT p.user_id AS id, u.username, p.display_name, left(p.bio, 280) AS bio,
       to_char(p.birthdate, 'YYYY-MM-DD') AS birthdate, p.gender, p.ethnicity, p.city, p.state,
       p.roles, p.interests, ${iso('p.last_active_at')} AS last_active_at,
       CASE WHEN $10::float8 IS NULL THEN NULL
            ELSE round((${DISTANCE} / 1000)::numeric, 2)::float8
       END AS distance_km`;

const FILTERS = `
FROM profiles p
JOIN users u ON u.id = p.user_id AND u.is_active
WHERE p.hidden_at IS NULL -- hidden by a moderator (migration 0014)
  AND (p.privacy_level = 'public' OR p.user_id = $16::uuid
       OR (p.privacy_level = 'friends' AND p.user_id IN (
             SELECT f.target_id FROM relationships f
             WHERE f.user_id = $16::uuid AND f.kind = 'friend' AND f.status = 'accepted')))
  AND ($1::text IS NULL OR p.search_vector @@ bgc_search_tsquery($1::text))
  AND ($2::text IS NULL OR p.city = $2::text)
  AND ($3::text IS NULL OR p.state = $3::text)
  AND ($4::text IS NULL OR p.ethnicity = $4::text)
  AND ($5::date IS NULL OR p.birthdate <= $5::date)
  AND ($6::date IS NULL OR p.birthdate > $6::date)
  AND ($7::jsonb IS NULL OR p.interests @> $7::jsonb)
  AND ($8::jsonb IS NULL OR p.roles @> $8::jsonb)
  AND ($9::jsonb IS NULL OR p.metadata @> $9::jsonb)
  AND ($10::float8 IS NULL OR (
        p.lat IS NOT NULL AND p.lng IS NOT NULL
        AND ${BOX} @> ${INDEXED}
        AND ${DISTANCE} <= $12::float8))
  -- The viewer's blocks both ways, as a hashed set built once (not a probe per profile).
  AND NOT (p.user_id IN (
        SELECT b.target_id FROM relationships b WHERE b.user_id = $16::uuid AND b.kind = 'block'
        UNION ALL
        SELECT b.user_id FROM relationships b WHERE b.target_id = $16::uuid AND b.kind = 'block'))`;

const SAMPLE_HEAD = `SELECT NULL::text AS q, NULL::text AS city, NULL::text AS state, NULL::text AS ethnicity,
                   NULL::date AS born_on_or_before, NULL::date AS born_after`;

export const searchQueries = catalog({
  profiles: defineQuery({
    name: 'search.profiles',
    description: 'GET /api/search: JSONB containment on interests/roles/metadata, full text, city/state/ethnicity, age, radius; most recently active first, keyset on (last_active_at, user_id). Shows public profiles, the viewer\'s own, and friends-only profiles of friends; hides users blocked either way.',
    target: 'replica',
    // Which of the optional filters are set decides the plan (a GIN text match, a JSONB
    // containment, a city, or the activity-ordered scan); a generic plan cannot know.
    plan: 'custom',
    sample: {
      sql: `${SAMPLE_HEAD}, jsonb_build_array(i.v) AS interests, NULL::jsonb AS roles, NULL::jsonb AS metadata,
                   NULL::float8 AS lat, NULL::float8 AS lng, NULL::float8 AS radius_m,
                   'infinity'::timestamptz AS after_ts, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS after_id,
                   21 AS lim, p.user_id AS viewer_id
            FROM profiles p CROSS JOIN LATERAL jsonb_array_elements(p.interests) AS i(v)
            WHERE jsonb_array_length(p.interests) > 0 ORDER BY p.user_id LIMIT 1`,
    },
    sql: `
${COLUMNS}
${FILTERS}
  AND (p.last_active_at, p.user_id) < ($13::timestamptz, $14::uuid)
ORDER BY p.last_active_at DESC, p.user_id DESC
LIMIT $15`,
  }),
  near: defineQuery({
    name: 'search.profiles_near',
    description: 'GET /api/search with lat/lng: the same filters, nearest first via a KNN scan of profiles_location_gist inside the radius box; keyset on (chord distance, user_id).',
    target: 'replica',
    plan: 'custom',
    sample: {
      // The densest spot: the most common city's first profile, 10 km around it.
      sql: `${SAMPLE_HEAD}, NULL::jsonb AS interests, NULL::jsonb AS roles, NULL::jsonb AS metadata,
                   p.lat, p.lng, 10000::float8 AS radius_m, -1::float8 AS after_distance,
                   '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 21 AS lim, p.user_id AS viewer_id
            FROM profiles p
            WHERE p.city = (SELECT city FROM profiles WHERE city IS NOT NULL GROUP BY city ORDER BY count(*) DESC LIMIT 1)
              AND p.lat IS NOT NULL AND p.lng IS NOT NULL
            ORDER BY p.user_id LIMIT 1`,
    },
    // The index orders by distance only. The inner scan stops after the page's last distance
    // (WITH TIES: every profile at that same distance, however many) and the outer sort makes
    // (distance, user_id) a total order, so pages are exact. It used to take 50 rows more than
    // the page: where the planner sorted them all instead of incrementally (near + a role,
    // text or JSONB filter), that walked, joined and filtered about three times the rows it
    // kept (on `large`, 790-1,500 buffers for such a page; now 300-500).
    sql: `
SELECT * FROM (
${COLUMNS}, ${INDEXED} <-> ${CENTER} AS knn_distance
${FILTERS}
  AND (${HERE} <-> ${CENTER}, p.user_id) > ($13::float8, $14::uuid)
  ORDER BY ${INDEXED} <-> ${CENTER}
  FETCH FIRST $15 ROWS WITH TIES
) n
ORDER BY n.knn_distance, n.id
LIMIT $15`,
  }),
});

export interface SearchFilters {
  readonly q: string | null;
  readonly city: string | null;
  readonly state: string | null;
  readonly ethnicity: string | null;
  /** Age ≥ min_age ⇔ born on or before this date (YYYY-MM-DD). */
  readonly bornOnOrBefore: string | null;
  /** Age ≤ max_age ⇔ born after this date. */
  readonly bornAfter: string | null;
  readonly interests: readonly string[] | null;
  readonly roles: readonly string[] | null;
  readonly metadata: Record<string, unknown> | null;
  readonly near: { readonly lat: number; readonly lng: number; readonly radiusM: number } | null;
}

/** A search hit: the profile's public summary columns, and the distance when searching near a point. */
export type SearchRow = Pick<ProfileRow,
  'id' | 'username' | 'display_name' | 'bio' | 'birthdate' | 'gender' | 'ethnicity' | 'city' | 'state' | 'roles' | 'interests' | 'last_active_at'
> & { readonly distance_km: number | null };

export type NearRow = SearchRow & { readonly knn_distance: number };

const json = (v: unknown): string | null => (v === null ? null : JSON.stringify(v));

function params(f: SearchFilters, after: { a: string | number; id: string }, limit: number, viewerId: string): unknown[] {
  return [
    f.q, f.city, f.state, f.ethnicity, f.bornOnOrBefore, f.bornAfter,
    json(f.interests), json(f.roles), json(f.metadata),
    f.near?.lat ?? null, f.near?.lng ?? null, f.near?.radiusM ?? null,
    after.a, after.id, limit, viewerId,
  ];
}

export class SearchRepository {
  constructor(private readonly db: Database) {}

  /** Most recently active first; `after` is the last (last_active_at, id) seen. */
  async profiles(f: SearchFilters, after: { ts: string; id: string }, limit: number, viewerId: string, ctx: QueryContext): Promise<SearchRow[]> {
    return this.db.query<SearchRow>(searchQueries.profiles, params(f, { a: after.ts, id: after.id }, limit, viewerId), ctx);
  }

  /** Nearest first (f.near is required); `after` is the last (knn_distance, id) seen. */
  async near(f: SearchFilters, after: { d: number; id: string }, limit: number, viewerId: string, ctx: QueryContext): Promise<NearRow[]> {
    return this.db.query<NearRow>(searchQueries.near, params(f, { a: after.d, id: after.id }, limit, viewerId), ctx);
  }
}
