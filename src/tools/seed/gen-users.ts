import type { BinaryCopyEncoder } from './binary-copy.ts';
import { Prng } from './prng.ts';
import { bio } from './text.ts';
import { DAY_MS, HOUR_MS } from './timeline.ts';
import {
  BODY_TYPES, CITIES, DRINKING, EDUCATION, ETHNICITIES, ETHNICITY_WEIGHTS, FIRST_NAMES, GENDERS, GENDER_WEIGHTS,
  INTERESTS, LANGUAGES, LAST_NAMES, LOOKING_FOR, OCCUPATIONS, PRIVACY_LEVELS, PRIVACY_WEIGHTS, RELATIONSHIP_STATUSES,
  ROLES, SIGNUP_SOURCES,
} from './vocab.ts';
import type { World } from './world.ts';

export const USER_COLUMNS = ['id', 'email', 'username', 'password_hash', 'is_active', 'is_superuser', 'last_login_at', 'metadata', 'created_at', 'updated_at'] as const;
export const PROFILE_COLUMNS = [
  'user_id', 'display_name', 'bio', 'birthdate', 'gender', 'ethnicity', 'height_cm', 'body_type', 'relationship_status',
  'city', 'state', 'lat', 'lng', 'roles', 'interests', 'metadata', 'privacy_level', 'last_active_at', 'created_at', 'updated_at',
] as const;

const YIELD_EVERY = 256;
const CITY_WEIGHTS = CITIES.map((c) => c.weight);
const YEAR_MS = 365.25 * DAY_MS;

/** Seeded users sign in as user<N>@example.com (N from 1), all with the demo password. */
export function seededEmail(userNumber: number): string {
  return `user${userNumber + 1}@example.com`;
}

/**
 * Last activity: the most active users (low numbers) were seen minutes to hours ago, the
 * long tail days to weeks ago; never before sign-up, never after the anchor.
 */
export function lastActiveAt(world: World, u: number, rng: Prng): number {
  const meanHours = 2 + 1000 * (u / world.users.count);
  const t = world.timeline.anchorMs - rng.exponential(meanHours * HOUR_MS);
  return Math.floor(Math.max(world.users.createdAt[u] as number, t));
}

export function* userRows(world: World, passwordHash: string, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'users.rows');
  const names = new Prng(world.seed, 'users.names');
  const activity = new Prng(world.seed, 'users.activity');
  const { users } = world;
  for (let u = 0; u < users.count; u++) {
    const created = users.createdAt[u] as number;
    const first = names.pick(FIRST_NAMES);
    const last = names.pick(LAST_NAMES);
    const username = `${first}_${last}${u + 1}`.toLowerCase();
    const meta = JSON.stringify({
      signup_source: rng.pick(SIGNUP_SOURCES),
      newsletter: rng.chance(0.3),
      theme: rng.chance(0.6) ? 'dark' : 'light',
    });
    const seen = lastActiveAt(world, u, activity);
    enc.row(USER_COLUMNS.length).uuid(users.ids, u * 16).text(seededEmail(u)).text(username).text(passwordHash)
      .bool(users.active[u] === 1).bool(false).timestamp(seen).jsonb(meta).timestamp(created).timestamp(seen);
    if ((u + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield users.count % YIELD_EVERY;
}

function profileMetadata(rng: Prng, occupation: string): string {
  const languages = ['en', ...rng.sample(LANGUAGES, rng.chance(0.35) ? 2 : 1)].filter((l, i, a) => a.indexOf(l) === i);
  return JSON.stringify({
    smoker: rng.chance(0.15),
    drinks: rng.pick(DRINKING),
    languages,
    verified: rng.chance(0.4),
    has_photo: rng.chance(0.85),
    education: rng.pick(EDUCATION),
    occupation,
    looking_for: rng.sample(LOOKING_FOR, rng.range(1, 3)),
  });
}

export function* profileRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'profiles.rows');
  // The same streams as userRows: the same names and last-activity times per user.
  const names = new Prng(world.seed, 'users.names');
  const activity = new Prng(world.seed, 'users.activity');
  const { users, timeline } = world;
  for (let u = 0; u < users.count; u++) {
    const first = names.pick(FIRST_NAMES);
    const last = names.pick(LAST_NAMES);
    const created = users.createdAt[u] as number;
    const city = rng.weighted(CITIES, CITY_WEIGHTS);
    const gender = rng.weighted(GENDERS, GENDER_WEIGHTS);
    const interests = rng.sample(INTERESTS, rng.range(2, 6));
    const roles = rng.sample(ROLES, rng.range(1, 3));
    const age = Math.min(75, Math.max(18, rng.normal(33, 9)));
    const heightMean = gender === 'woman' || gender === 'trans woman' ? 165 : 177;
    const height = Math.round(Math.min(210, Math.max(145, rng.normal(heightMean, 8))));
    // Within ~10 km of the city centre, so radius searches see a spread, not one point.
    const lat = city.lat + (rng.float() - 0.5) * 0.18;
    const lng = city.lng + (rng.float() - 0.5) * 0.22;
    const displayName = rng.chance(0.7) ? `${first} ${last}` : `${first} ${last.charAt(0)}.`;
    const occupation = rng.pick(OCCUPATIONS);
    enc.row(PROFILE_COLUMNS.length).uuid(users.ids, u * 16).text(displayName).text(bio(rng, city.city, interests, occupation))
      .date(timeline.anchorMs - age * YEAR_MS).text(gender).text(rng.weighted(ETHNICITIES, ETHNICITY_WEIGHTS))
      .int2(height).text(rng.pick(BODY_TYPES)).text(rng.pick(RELATIONSHIP_STATUSES)).text(city.city).text(city.state)
      .float8(Math.round(lat * 1e6) / 1e6).float8(Math.round(lng * 1e6) / 1e6)
      .jsonb(JSON.stringify(roles)).jsonb(JSON.stringify(interests)).jsonb(profileMetadata(rng, occupation))
      .text(rng.weighted(PRIVACY_LEVELS, PRIVACY_WEIGHTS)).timestamp(lastActiveAt(world, u, activity))
      .timestamp(created).timestamp(created + Math.floor(rng.float() * DAY_MS));
    if ((u + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield users.count % YIELD_EVERY;
}
