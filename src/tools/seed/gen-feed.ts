import type { BinaryCopyEncoder } from './binary-copy.ts';
import { Prng } from './prng.ts';
import { POOL_MASK, type TextPools } from './text.ts';
import { allocateBySlice, HOUR_MS } from './timeline.ts';
import { writeUuidV7 } from './uuidv7.ts';
import { MOODS } from './vocab.ts';
import { groupOwner } from './gen-social.ts';
import { countAtOrBefore } from './timeline.ts';
import { SKEW, usersAt, type World } from './world.ts';

export const POST_COLUMNS = ['id', 'author_id', 'content', 'metadata', 'comment_count', 'created_at', 'group_id'] as const;
export const COMMENT_COLUMNS = ['id', 'post_id', 'post_created_at', 'author_id', 'content', 'created_at'] as const;

const YIELD_EVERY = 256;

/** Smallest multiplier ≥ start that is coprime with n: (i·a + b) mod n is then a permutation. */
function coprimeMultiplier(n: number, start: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  let a = start;
  while (gcd(a, n) !== 1) a++;
  return a;
}

/**
 * Status updates month by month (time order, one partition at a time) and, written in the
 * same pass into a second encoder, their comments. How many comments each post gets is
 * decided up front (popular posts get many, most get none) so each post row carries the
 * exact comment_count of the comments that follow it.
 */
export class FeedGenerator {
  readonly perSlice: number[];
  readonly commentCounts: Int32Array;
  readonly #world: World;
  readonly #pools: TextPools;
  readonly #rng: Prng;
  /** Which posts go to a group: a stream of its own, so the other columns stay as they were. */
  readonly #groupRng: Prng;
  readonly #owners: Int32Array;
  readonly #postId = Buffer.allocUnsafe(16);
  /** One post's comments, drawn before its row is written; grown to the largest post's count. */
  #comments = { ids: Buffer.allocUnsafe(16 * 64), commenters: new Int32Array(64), contents: new Uint32Array(64), times: new Float64Array(64) };
  readonly #metadata: Buffer[];
  #post = 0;
  #usersExisting = 0;
  #nextSlice = 0;

  constructor(world: World, pools: TextPools) {
    this.#world = world;
    this.#pools = pools;
    this.#rng = new Prng(world.seed, 'feed.rows');
    this.#groupRng = new Prng(world.seed, 'feed.groups');
    this.#owners = Int32Array.from({ length: world.groups.count }, (_, g) => groupOwner(world, g));
    this.perSlice = allocateBySlice(world.preset.statusUpdates, world.timeline);
    this.#metadata = [
      ...Array.from({ length: 6 }, () => '{}'),
      ...MOODS.map((m) => JSON.stringify({ mood: m })),
      '{"visibility":"friends"}', '{"visibility":"public","pinned":true}',
    ].map((s) => Buffer.from(s, 'utf8'));
    const posts = world.preset.statusUpdates;
    this.commentCounts = new Int32Array(posts);
    const alloc = new Prng(world.seed, 'feed.comment_alloc');
    // Popular posts are scattered over time, not all the oldest: rank → post by a permutation.
    const a = coprimeMultiplier(posts, Math.floor(posts * 0.618) + 1);
    const b = alloc.int(posts);
    for (let i = 0; i < world.preset.comments; i++) {
      const rank = alloc.chance(0.5) ? alloc.zipf(posts, SKEW.posts) : alloc.int(posts);
      const p = (rank * a + b) % posts;
      this.commentCounts[p] = (this.commentCounts[p] as number) + 1;
    }
  }

  *sliceRows(index: number, posts: BinaryCopyEncoder, comments: BinaryCopyEncoder): Generator<number, void, void> {
    if (index !== this.#nextSlice) throw new Error(`feed slices must run in order: expected ${this.#nextSlice}, got ${index}`);
    this.#nextSlice++;
    const slice = this.#world.timeline.slices[index];
    const n = this.perSlice[index] ?? 0;
    if (!slice) return;
    const { users } = this.#world;
    const rng = this.#rng;
    const span = slice.toMs - slice.fromMs;
    let rows = 0;
    for (let i = 0; i < n; i++) {
      const t = Math.floor(slice.fromMs + (span * (i + rng.float())) / n);
      while (this.#usersExisting < users.count && (users.createdAt[this.#usersExisting] as number) <= t) this.#usersExisting++;
      const drawn = rng.zipf(Math.max(1, this.#usersExisting), SKEW.users);
      const group = this.#groupAt(t);
      // A group post is its owner's (a member, and there when the group was made).
      const author = group === undefined ? drawn : this.#owners[group] as number;
      const count = this.commentCounts[this.#post++] as number;
      writeUuidV7(this.#postId, 0, t, rng);
      const content = this.#pools.posts[rng.uint32() & POOL_MASK.posts] as Buffer;
      const metadata = this.#metadata[rng.int(this.#metadata.length)] as Buffer;
      // The comments are drawn before the post row is written (in the same order from the
      // same stream as when they were written after it): its comment_count counts only
      // those of active accounts, as the post's list shows them.
      const { visible } = this.#drawComments(t, count);
      posts.row(POST_COLUMNS.length).uuid(this.#postId, 0).uuid(users.ids, author * 16)
        .textBytes(content).jsonbBytes(metadata).int4(visible).timestamp(t);
      if (group === undefined) posts.null(); else posts.uuid(this.#world.groups.ids, group * 16);
      rows++;
      const c = this.#comments;
      for (let k = 0; k < count; k++) {
        comments.row(COMMENT_COLUMNS.length).uuid(c.ids, k * 16).uuid(this.#postId, 0).timestamp(t)
          .uuid(users.ids, (c.commenters[k] as number) * 16).textBytes(this.#pools.comments[c.contents[k] as number] as Buffer).timestamp(c.times[k] as number);
        rows++;
      }
      if (rows >= YIELD_EVERY) { yield rows; rows = 0; }
    }
    yield rows;
  }

  /** Draws a post's `count` comments into #comments; `visible`: how many are by active accounts. */
  #drawComments(t: number, count: number): { readonly visible: number } {
    const { users, timeline } = this.#world;
    const rng = this.#rng;
    if (count > this.#comments.commenters.length) {
      const n = Math.max(count, 2 * this.#comments.commenters.length);
      this.#comments = { ids: Buffer.allocUnsafe(16 * n), commenters: new Int32Array(n), contents: new Uint32Array(n), times: new Float64Array(n) };
    }
    const c = this.#comments;
    let visible = 0;
    for (let k = 0; k < count; k++) {
      // Replies come soon after a post (hours), never after the anchor.
      const ct = Math.min(timeline.anchorMs - 1, Math.max(t, Math.floor(t + rng.exponential(8 * HOUR_MS))));
      const commenter = rng.zipf(usersAt(users, ct), SKEW.users);
      writeUuidV7(c.ids, k * 16, ct, rng);
      c.contents[k] = rng.uint32() & POOL_MASK.comments;
      c.commenters[k] = commenter;
      c.times[k] = ct;
      visible += users.active[commenter] as number;
    }
    return { visible };
  }

  /** A group for a post at time t (preset.groupPostShare of posts; popular groups more), or none. */
  #groupAt(t: number): number | undefined {
    const { groups, preset } = this.#world;
    const existing = countAtOrBefore(groups.createdAt, t);
    if (existing === 0 || !this.#groupRng.chance(preset.groupPostShare)) return undefined;
    return this.#groupRng.zipf(existing, SKEW.rooms);
  }
}
