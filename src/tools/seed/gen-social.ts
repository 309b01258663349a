import type { BinaryCopyEncoder } from './binary-copy.ts';
import { PairSet } from './pair-set.ts';
import { Prng } from './prng.ts';
import { roomName, sentence } from './text.ts';
import { CITIES, INTERESTS, LANGUAGES } from './vocab.ts';
import { SKEW, usersAt, type World } from './world.ts';

export const ROOM_COLUMNS = ['id', 'name', 'topic', 'created_by', 'is_active', 'metadata', 'created_at'] as const;
export const GROUP_COLUMNS = ['id', 'name', 'description', 'owner_id', 'is_active', 'metadata', 'created_at', 'visibility'] as const;
export const MEMBERSHIP_COLUMNS = ['group_id', 'user_id', 'role', 'joined_at'] as const;
export const RELATIONSHIP_COLUMNS = ['user_id', 'target_id', 'kind', 'status', 'created_at', 'updated_at'] as const;
export const RATING_COLUMNS = ['rater_id', 'rated_id', 'score', 'created_at'] as const;

const YIELD_EVERY = 512;
const MAX_ATTEMPTS_PER_ROW = 1_000;
const RATING_WEIGHTS = [4, 7, 20, 38, 31]; // scores 1..5 (the API's scale), most people rate kindly

/** A uniform moment in [fromMs, toMs]. */
function between(rng: Prng, fromMs: number, toMs: number): number {
  return Math.floor(fromMs + rng.float() * Math.max(0, toMs - fromMs));
}

function capitalise(s: string): string {
  return s.replace(/\b\w/g, (c) => c.toUpperCase());
}

export function* roomRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'rooms.rows');
  const { rooms, users } = world;
  const names = new Set<string>();
  for (let r = 0; r < rooms.count; r++) {
    const created = rooms.createdAt[r] as number;
    let name = roomName(rng, rng.pick(CITIES).city);
    if (names.has(name)) name = `${name} ${r + 1}`;
    names.add(name);
    const creator = rng.zipf(usersAt(users, created), SKEW.users);
    const meta = JSON.stringify({ category: rng.pick(INTERESTS), language: rng.pick(LANGUAGES.slice(0, 3)), moderated: rng.chance(0.5) });
    enc.row(ROOM_COLUMNS.length).uuid(rooms.ids, r * 16).text(name).text(sentence(rng)).uuid(users.ids, creator * 16)
      .bool(!rng.chance(0.05)).jsonb(meta).timestamp(created);
  }
  yield rooms.count;
}

export function* groupRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'groups.rows');
  const { groups, users } = world;
  for (let g = 0; g < groups.count; g++) {
    const created = groups.createdAt[g] as number;
    const city = rng.pick(CITIES);
    const interest = rng.pick(INTERESTS);
    const visibility = rng.chance(0.8) ? 'public' : 'private';
    const meta = JSON.stringify({ category: interest, city: city.city, state: city.state, visibility });
    enc.row(GROUP_COLUMNS.length).uuid(groups.ids, g * 16).text(`${city.city} ${capitalise(interest)} Group`)
      .text(sentence(rng)).uuid(users.ids, groupOwner(world, g) * 16).bool(!rng.chance(0.03)).jsonb(meta).timestamp(created)
      .text(visibility); // the column the API reads (migration 0013); metadata keeps it as before
  }
  yield groups.count;
}

/** The owner of group g, drawn from its own stream so memberships (and group posts) can recompute it. */
export function groupOwner(world: World, g: number): number {
  const rng = new Prng(world.seed, `groups.owner.${g}`);
  return rng.zipf(usersAt(world.users, world.groups.createdAt[g] as number), SKEW.users);
}

/** Each group's owner (role owner), then members: popular groups get many. Written in PK order. */
export function* membershipRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'memberships.rows');
  const { groups, users, timeline } = world;
  const total = world.preset.groupMemberships;
  const roles = ['owner', 'moderator', 'member'] as const;
  const seen = new PairSet(total);
  const gs = new Int32Array(total);
  const us = new Int32Array(total);
  const role = new Uint8Array(total);
  const joined = new Float64Array(total);
  const keys = new Float64Array(total);
  let k = 0;
  const add = (g: number, u: number, r: number) => {
    const since = Math.max(groups.createdAt[g] as number, users.createdAt[u] as number);
    gs[k] = g; us[k] = u; role[k] = r; joined[k] = between(rng, since, timeline.anchorMs);
    keys[k] = g * users.count + u;
    k++;
  };
  for (let g = 0; g < groups.count && k < total; g++) {
    const owner = groupOwner(world, g);
    seen.add(g, owner);
    add(g, owner, 0);
  }
  for (let attempts = 0; k < total; attempts++) {
    if (attempts > total * MAX_ATTEMPTS_PER_ROW) throw new Error('membership generation did not converge');
    const g = rng.zipf(groups.count, SKEW.rooms);
    const u = rng.zipf(users.count, 0.5);
    if (!seen.add(g, u)) continue;
    add(g, u, rng.chance(0.05) ? 1 : 2);
  }
  const order = argsort(keys);
  for (let j = 0; j < total; j++) {
    const i = order[j] as number;
    enc.row(MEMBERSHIP_COLUMNS.length).uuid(groups.ids, (gs[i] as number) * 16).uuid(users.ids, (us[i] as number) * 16)
      .text(roles[role[i] as number] as string).timestamp(joined[i] as number);
    if ((j + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield total % YIELD_EVERY;
}

/** Row order by ascending key; the typed-array sort is stable, so ties keep generation order. */
function argsort(keys: Float64Array): Uint32Array {
  const order = new Uint32Array(keys.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((x, y) => (keys[x] as number) - (keys[y] as number));
}

/*
 * Relationships, ratings and memberships are drawn in random order but written sorted by
 * their primary key (user numbers follow id order, ids being UUIDv7 of sign-up time): the
 * primary key B-tree, which stays during the load, then only ever appends at its right
 * edge instead of splitting pages all over a 1M-entry index.
 */
const KINDS = ['block', 'favorite', 'friend'] as const; // PK order of the kind column
const STATUSES = ['accepted', 'pending'] as const;

/**
 * Exactly `preset.relationships` rows: accepted friendships (two rows, one per direction),
 * pending friend requests (one row), favourites and blocks. A pair is never both friends
 * and blocked, and never has two friend states.
 */
export function* relationshipRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'relationships.rows');
  const { users, timeline } = world;
  const n = users.count;
  const total = world.preset.relationships;
  const friendPairs = new PairSet(total / 2); // unordered pair → friend (accepted or pending)
  const blockPairs = new PairSet(total / 10); // unordered pair → someone blocked someone
  const favorites = new PairSet(total / 2); // ordered pair
  const from = new Int32Array(total);
  const to = new Int32Array(total);
  const kinds = new Uint8Array(total);
  const statuses = new Uint8Array(total);
  const created = new Float64Array(total);
  const updated = new Float64Array(total);
  const keys = new Float64Array(total);
  let k = 0;
  const row = (a: number, b: number, kind: number, status: number, c: number, u: number) => {
    from[k] = a; to[k] = b; kinds[k] = kind; statuses[k] = status; created[k] = c; updated[k] = u;
    keys[k] = (a * n + b) * KINDS.length + kind;
    k++;
  };
  for (let attempts = 0; k < total; attempts++) {
    if (attempts > total * MAX_ATTEMPTS_PER_ROW) throw new Error('relationship generation did not converge');
    const a = rng.zipf(n, SKEW.users);
    const b = rng.chance(0.6) ? rng.zipf(n, SKEW.users) : rng.int(n);
    if (a === b) continue;
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const since = Math.max(users.createdAt[a] as number, users.createdAt[b] as number);
    const at = between(rng, since, timeline.anchorMs);
    const kind = rng.float();
    if (kind < 0.34 && total - k >= 2) {
      if (blockPairs.has(lo, hi) || !friendPairs.add(lo, hi)) continue;
      const accepted = between(rng, at, Math.min(timeline.anchorMs, at + 3 * 86_400_000));
      row(a, b, 2, 0, at, accepted);
      row(b, a, 2, 0, accepted, accepted);
    } else if (kind < 0.44) {
      if (blockPairs.has(lo, hi) || !friendPairs.add(lo, hi)) continue;
      row(a, b, 2, 1, at, at);
    } else if (kind < 0.92) {
      if (blockPairs.has(lo, hi) || !favorites.add(a, b)) continue;
      row(a, b, 1, 0, at, at);
    } else {
      // No friend row or favourite either way beside a block (social.block removes them; the
      // following feed relies on it).
      if (friendPairs.has(lo, hi) || favorites.has(a, b) || favorites.has(b, a) || !blockPairs.add(lo, hi)) continue;
      row(a, b, 0, 0, at, at);
    }
  }
  const order = argsort(keys);
  for (let j = 0; j < total; j++) {
    const i = order[j] as number;
    enc.row(RELATIONSHIP_COLUMNS.length).uuid(users.ids, (from[i] as number) * 16).uuid(users.ids, (to[i] as number) * 16)
      .text(KINDS[kinds[i] as number] as string).text(STATUSES[statuses[i] as number] as string)
      .timestamp(created[i] as number).timestamp(updated[i] as number);
    if ((j + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield total % YIELD_EVERY;
}

export function* ratingRows(world: World, enc: BinaryCopyEncoder): Generator<number, void, void> {
  const rng = new Prng(world.seed, 'ratings.rows');
  const { users, timeline } = world;
  const n = users.count;
  const total = world.preset.ratings;
  const scores = Array.from({ length: RATING_WEIGHTS.length }, (_, i) => i + 1);
  const seen = new PairSet(total);
  const raters = new Int32Array(total);
  const rateds = new Int32Array(total);
  const given = new Uint8Array(total);
  const at = new Float64Array(total);
  const keys = new Float64Array(total);
  let k = 0;
  for (let attempts = 0; k < total; attempts++) {
    if (attempts > total * MAX_ATTEMPTS_PER_ROW) throw new Error('rating generation did not converge');
    const rater = rng.zipf(n, SKEW.users);
    const rated = rng.zipf(n, 0.6);
    if (rater === rated || !seen.add(rater, rated)) continue;
    const since = Math.max(users.createdAt[rater] as number, users.createdAt[rated] as number);
    raters[k] = rater; rateds[k] = rated; given[k] = rng.weighted(scores, RATING_WEIGHTS); at[k] = between(rng, since, timeline.anchorMs);
    keys[k] = rater * n + rated;
    k++;
  }
  const order = argsort(keys);
  for (let j = 0; j < total; j++) {
    const i = order[j] as number;
    enc.row(RATING_COLUMNS.length).uuid(users.ids, (raters[i] as number) * 16).uuid(users.ids, (rateds[i] as number) * 16)
      .int2(given[i] as number).timestamp(at[i] as number);
    if ((j + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
  }
  yield total % YIELD_EVERY;
}
