import { PairSet } from './pair-set.ts';
import { Prng } from './prng.ts';
import type { Preset } from './presets.ts';
import { countAtOrBefore, DAY_MS, HOUR_MS, type Timeline } from './timeline.ts';
import { compareUuidBytes, writeUuidV7 } from './uuidv7.ts';

/**
 * What every generator needs to agree on, built before any row is written: user, room,
 * group and conversation ids with their creation times. Entities are numbered in order
 * of creation, and a lower number means more activity (the Zipf rank), so early members
 * are the very active ones, as in a real network that grew around its first users.
 * Nothing happens before the entities it involves exist: a message at time t only picks
 * users and conversations created at or before t (a prefix of these sorted arrays).
 */
export interface Entities {
  readonly count: number;
  /** 16 bytes per entity, UUIDv7 of its creation time. */
  readonly ids: Buffer;
  /** Creation time (Unix ms, integral), ascending. */
  readonly createdAt: Float64Array;
}

export interface Conversations extends Entities {
  /** User numbers of the pair, ordered so that id(low) < id(high) as uuids. */
  readonly low: Int32Array;
  readonly high: Int32Array;
}

/** Users are Entities that can be suspended: 1 where the account is active. */
export interface Users extends Entities {
  /**
   * Decided here, not while writing the users table, because the feed generator needs it:
   * a post's comment_count counts only its active commenters' comments (what its list shows,
   * src/repositories/post-sql.ts), and the post row is written before any users row is read.
   */
  readonly active: Uint8Array;
}

export interface World {
  readonly seed: number;
  readonly preset: Preset;
  readonly timeline: Timeline;
  readonly users: Users;
  readonly rooms: Entities;
  readonly groups: Entities;
  readonly conversations: Conversations;
}

/** Skew exponents: users are a bit less concentrated than conversations or rooms. */
export const SKEW = { users: 0.8, conversations: 0.9, rooms: 0.7, posts: 0.9 } as const;

/** `count` creation times spread evenly (with jitter) over [fromMs, toMs), ascending. */
function entities(count: number, fromMs: number, toMs: number, rng: Prng): Entities {
  const ids = Buffer.allocUnsafe(count * 16);
  const createdAt = new Float64Array(count);
  const span = toMs - fromMs;
  for (let i = 0; i < count; i++) {
    const t = Math.floor(fromMs + (span * (i + rng.float())) / count);
    createdAt[i] = t;
    writeUuidV7(ids, i * 16, t, rng);
  }
  return { count, ids, createdAt };
}

/** Users who exist at time t, at least two (so a pair can always be formed). */
export function usersAt(users: Entities, t: number): number {
  return Math.max(2, countAtOrBefore(users.createdAt, t));
}

/** Two distinct users among the first `existing` that have no conversation yet. */
function freePair(existing: number, seen: PairSet, rng: Prng, c: number): [number, number] {
  for (let attempt = 0; attempt <= 10_000; attempt++) {
    const a = rng.zipf(existing, SKEW.users);
    // Half the partners are as skewed as the initiator, half uniform: popular people
    // talk to each other, and everyone writes to someone now and then.
    const b = rng.chance(0.5) ? rng.zipf(existing, SKEW.users) : rng.int(existing);
    if (a !== b && seen.add(Math.min(a, b), Math.max(a, b))) return [a, b];
  }
  throw new Error(`could not find a free user pair for conversation ${c}`);
}

function conversations(preset: Preset, users: Entities, fromMs: number, toMs: number, rng: Prng): Conversations {
  const base = entities(preset.conversations, fromMs, toMs, rng);
  const low = new Int32Array(base.count);
  const high = new Int32Array(base.count);
  const seen = new PairSet(base.count);
  for (let c = 0; c < base.count; c++) {
    const existing = usersAt(users, base.createdAt[c] as number);
    const [a, b] = freePair(existing, seen, rng, c);
    const aFirst = compareUuidBytes(users.ids, a * 16, users.ids, b * 16) < 0;
    low[c] = aFirst ? a : b;
    high[c] = aFirst ? b : a;
  }
  return { ...base, low, high };
}

/** Share of seeded accounts that are suspended (is_active false). */
const INACTIVE_SHARE = 0.03;

function withActiveFlags(users: Entities, rng: Prng): Users {
  const active = new Uint8Array(users.count);
  for (let u = 0; u < users.count; u++) active[u] = rng.chance(INACTIVE_SHARE) ? 0 : 1;
  return { ...users, active };
}

export function buildWorld(seed: number, preset: Preset, timeline: Timeline): World {
  const { startMs, anchorMs } = timeline;
  // A year of sign-ups before the window, continuing to the day before the anchor.
  const users = withActiveFlags(entities(preset.users, startMs - 365 * DAY_MS, anchorMs - DAY_MS, new Prng(seed, 'users.ids')), new Prng(seed, 'users.active'));
  const rooms = entities(preset.chatRooms, startMs - 60 * DAY_MS, startMs - DAY_MS, new Prng(seed, 'rooms.ids'));
  const groups = entities(preset.groups, startMs - 180 * DAY_MS, anchorMs - 7 * DAY_MS, new Prng(seed, 'groups.ids'));
  const convs = conversations(preset, users, startMs - 30 * DAY_MS, anchorMs - HOUR_MS, new Prng(seed, 'conversations.ids'));
  return { seed, preset, timeline, users, rooms, groups, conversations: convs };
}
