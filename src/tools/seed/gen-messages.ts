import type { BinaryCopyEncoder } from './binary-copy.ts';
import { Prng } from './prng.ts';
import { POOL_MASK, type TextPools } from './text.ts';
import { allocateBySlice, DAY_MS } from './timeline.ts';
import { compareUuidBytes, writeUuidV7 } from './uuidv7.ts';
import { SKEW, type World } from './world.ts';

export const MESSAGE_COLUMNS = ['id', 'conversation_id', 'room_id', 'sender_id', 'content', 'metadata', 'created_at'] as const;
export const CONVERSATION_COLUMNS = [
  'id', 'user_low', 'user_high', 'created_at', 'last_message_id', 'last_message_at', 'last_message_sender_id', 'last_message_content',
] as const;
export const MEMBER_COLUMNS = ['conversation_id', 'user_id', 'joined_at', 'last_read_at', 'unread_count', 'last_message_at'] as const;

const YIELD_EVERY = 512;
const METADATA = [
  ...Array.from({ length: 17 }, () => '{}'),
  '{"client":"ios"}', '{"client":"android"}', '{"client":"web","attachments":1}',
].map((s) => Buffer.from(s, 'utf8'));

/**
 * Messages, month by month in time order, for both conversations and chat rooms. While
 * writing them it keeps per-conversation state so the conversation rows written afterwards
 * are consistent with the messages: last_message_id/at/sender_id/content are the real latest
 * message (the seed hides no message, so the content is never NULL for one), and
 * each member's unread_count equals the number of the other member's messages after
 * their last_read_at. A member has read everything up to a personal cutoff, or up to their
 * own latest message if that is later (writing implies reading).
 */
export class MessageGenerator {
  readonly perSlice: number[];
  readonly #world: World;
  readonly #pools: TextPools;
  readonly #rng: Prng;
  readonly #id = Buffer.allocUnsafe(16);
  // Per conversation c.
  readonly #lastId: Buffer;
  readonly #lastAt: Float64Array;
  /** The latest message's sender (user index) and text (index into pools.messages). */
  readonly #lastSender: Int32Array;
  readonly #lastText: Int32Array;
  // Per member m = 2c (low) or 2c+1 (high).
  readonly #cutoff: Float64Array;
  readonly #lastOwn: Float64Array;
  readonly #afterCutoff: Int32Array;
  readonly #sinceOwn: Int32Array;
  #convExisting = 0;
  #usersExisting = 0;
  #nextSlice = 0;

  constructor(world: World, pools: TextPools) {
    this.#world = world;
    this.#pools = pools;
    this.#rng = new Prng(world.seed, 'messages.rows');
    this.perSlice = allocateBySlice(world.preset.messages, world.timeline);
    const c = world.conversations.count;
    this.#lastId = Buffer.alloc(c * 16);
    this.#lastAt = new Float64Array(c).fill(Number.NEGATIVE_INFINITY);
    this.#lastSender = new Int32Array(c);
    this.#lastText = new Int32Array(c);
    this.#cutoff = new Float64Array(2 * c);
    this.#lastOwn = new Float64Array(2 * c).fill(Number.NEGATIVE_INFINITY);
    this.#afterCutoff = new Int32Array(2 * c);
    this.#sinceOwn = new Int32Array(2 * c);
    const read = new Prng(world.seed, 'conversations.read');
    const anchor = world.timeline.anchorMs;
    for (let m = 0; m < 2 * c; m++) {
      const created = world.conversations.createdAt[m >> 1] as number;
      this.#cutoff[m] = read.chance(0.55) ? anchor : Math.max(created, Math.floor(anchor - read.exponential(3 * DAY_MS)));
    }
  }

  /** Rows of slice `index`; slices must be generated in order (state carries over). */
  *sliceRows(index: number, enc: BinaryCopyEncoder): Generator<number, void, void> {
    if (index !== this.#nextSlice) throw new Error(`message slices must run in order: expected ${this.#nextSlice}, got ${index}`);
    this.#nextSlice++;
    const slice = this.#world.timeline.slices[index];
    const n = this.perSlice[index] ?? 0;
    if (!slice) return;
    const { users, rooms, conversations: convs } = this.#world;
    const rng = this.#rng;
    const id = this.#id;
    const span = slice.toMs - slice.fromMs;
    const share = this.#world.preset.conversationShare;
    for (let i = 0; i < n; i++) {
      // Stratified times: sorted within the month, so each partition is written in time order.
      const t = Math.floor(slice.fromMs + (span * (i + rng.float())) / n);
      while (this.#convExisting < convs.count && (convs.createdAt[this.#convExisting] as number) <= t) this.#convExisting++;
      while (this.#usersExisting < users.count && (users.createdAt[this.#usersExisting] as number) <= t) this.#usersExisting++;
      writeUuidV7(id, 0, t, rng);
      enc.row(MESSAGE_COLUMNS.length).uuid(id, 0);
      let latestOf = -1; // the conversation this message became the latest of, if any
      if (this.#convExisting > 0 && rng.float() < share) {
        const c = rng.zipf(this.#convExisting, SKEW.conversations);
        const side = rng.uint32() & 1;
        const sender = side === 0 ? (convs.low[c] as number) : (convs.high[c] as number);
        enc.uuid(convs.ids, c * 16).null().uuid(users.ids, sender * 16);
        if (this.#track(c, side, t)) {
          latestOf = c;
          this.#lastSender[c] = sender;
        }
      } else {
        const r = rng.zipf(rooms.count, SKEW.rooms);
        const sender = rng.zipf(Math.max(1, this.#usersExisting), SKEW.users);
        enc.null().uuid(rooms.ids, r * 16).uuid(users.ids, sender * 16);
      }
      // Drawn here, after the sender, as before: the same seed gives the same messages.
      const text = rng.uint32() & POOL_MASK.messages;
      if (latestOf >= 0) this.#lastText[latestOf] = text;
      enc.textBytes(this.#pools.messages[text] as Buffer)
        .jsonbBytes(METADATA[rng.int(METADATA.length)] as Buffer).timestamp(t);
      if ((i + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
    }
    yield n % YIELD_EVERY;
  }

  /** Updates conversation c's state for a message at t; true when it is now the latest. */
  #track(c: number, side: number, t: number): boolean {
    const last = this.#lastAt[c] as number;
    // The keyset order of history pages is (created_at, id): on a millisecond tie the larger id is later.
    const latest = t > last || (t === last && compareUuidBytes(this.#id, 0, this.#lastId, c * 16) > 0);
    if (latest) {
      this.#lastAt[c] = t;
      this.#id.copy(this.#lastId, c * 16);
    }
    const own = 2 * c + side;
    const other = 2 * c + (1 - side);
    this.#lastOwn[own] = t;
    this.#sinceOwn[own] = 0;
    if (t > (this.#cutoff[other] as number)) this.#afterCutoff[other] = (this.#afterCutoff[other] as number) + 1;
    if (t > (this.#lastOwn[other] as number)) this.#sinceOwn[other] = (this.#sinceOwn[other] as number) + 1;
    return latest;
  }

  /** Conversation rows, after all messages (they carry the latest message). */
  *conversationRows(enc: BinaryCopyEncoder): Generator<number, void, void> {
    this.#assertDone();
    const { users, conversations: convs } = this.#world;
    const texts = this.#pools.messages;
    for (let c = 0; c < convs.count; c++) {
      enc.row(CONVERSATION_COLUMNS.length).uuid(convs.ids, c * 16).uuid(users.ids, (convs.low[c] as number) * 16)
        .uuid(users.ids, (convs.high[c] as number) * 16).timestamp(convs.createdAt[c] as number);
      const last = this.#lastAt[c] as number;
      if (last === Number.NEGATIVE_INFINITY) enc.null().null().null().null();
      else {
        enc.uuid(this.#lastId, c * 16).timestamp(last)
          .uuid(users.ids, (this.#lastSender[c] as number) * 16).textBytes(texts[this.#lastText[c] as number] as Buffer);
      }
      if ((c + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
    }
    yield convs.count % YIELD_EVERY;
  }

  *memberRows(enc: BinaryCopyEncoder): Generator<number, void, void> {
    this.#assertDone();
    const { users, conversations: convs, timeline } = this.#world;
    for (let m = 0; m < 2 * convs.count; m++) {
      const c = m >> 1;
      const user = (m & 1) === 0 ? (convs.low[c] as number) : (convs.high[c] as number);
      const last = this.#lastAt[c] as number;
      enc.row(MEMBER_COLUMNS.length).uuid(convs.ids, c * 16).uuid(users.ids, user * 16).timestamp(convs.createdAt[c] as number);
      if (last === Number.NEGATIVE_INFINITY) {
        enc.minusInfinity().int4(0).null();
      } else {
        const own = this.#lastOwn[m] as number;
        const cutoff = this.#cutoff[m] as number;
        const readUpTo = own > cutoff ? own : Math.min(cutoff, timeline.anchorMs);
        const unread = own > cutoff ? (this.#sinceOwn[m] as number) : (this.#afterCutoff[m] as number);
        enc.timestamp(readUpTo).int4(unread).timestamp(last);
      }
      if ((m + 1) % YIELD_EVERY === 0) yield YIELD_EVERY;
    }
    yield (2 * convs.count) % YIELD_EVERY;
  }

  #assertDone(): void {
    if (this.#nextSlice !== this.#world.timeline.slices.length) throw new Error('conversation rows need every message slice first');
  }
}
