import type { Config } from '../../config/index.ts';
import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { CommentPageRow, FeedRepository, PostRow } from '../../repositories/feed.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { newTimedId, uuidV7Millis } from '../ids.ts';
import { IdempotencyRepository } from '../../repositories/idempotency.repository.ts';
import { PostBatchRepository, type PostToWrite, type WrittenPostRow } from '../../repositories/post-batch.repository.ts';
import { CommentBatchRepository, type CommentToWrite, type WrittenCommentRow } from '../../repositories/comment-batch.repository.ts';
import { GroupCommitWriter, type GroupedItem } from '../group-commit.ts';
import { answerFromRecord, KEY_TTL_HOURS, type IdempotencyKey } from '../idempotency.ts';
import type { WriteBatcherStats } from '../write-batcher.ts';
import { uncachedFirstPages, type FirstPages } from '../first-pages.ts';
import type { RelationshipReader } from '../profiles/relationship-reader.ts';
import { noteWrite, pageSize, requireText, suspendedMeanwhile, type Page, type Written } from '../support.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs } from '../time-window.ts';

export type FeedType = 'global' | 'following';

export interface Post {
  readonly id: string;
  readonly author: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly content: string;
  readonly comment_count: number;
  readonly created_at: string;
}

export interface Comment {
  readonly id: string;
  readonly post_id: string;
  readonly author: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly content: string;
  readonly created_at: string;
}

interface FeedDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly feed: FeedRepository;
  /** First pages, possibly from the cache (src/cache/page-cache.ts). */
  readonly firstPages?: FirstPages;
  /**
   * Who blocks whom, for the shared global head: the cached relationship sets. Without it
   * (no cache) the global feed's first page is the per-viewer statement, as before.
   */
  readonly relationships?: RelationshipReader;
}

/** The global feed's head as one shared entry: the newest posts in the first window, for every viewer. */
interface GlobalHead {
  readonly rows: PostRow[];
  /** Every post of the window is in `rows` (fewer than asked for). */
  readonly complete: boolean;
}

/**
 * Posts in the shared global head. A viewer's first page drops the authors they block or
 * who block them, so the head holds more than a page; a page larger than half of it, or a
 * viewer who blocks too many of its authors, reads the database as before.
 */
const GLOBAL_HEAD_ROWS = 120;
/** First window per feed: the global feed is busy (a day fills a page), a following feed less so. */
const INITIAL_DAYS: Record<FeedType, number> = { global: 2, following: 31 };
/** Relationship lookups in flight at once while cutting a viewer's page from the shared global head. */
const HEAD_LOOKUP_WIDTH = 4;
/** A post's created_at equals its UUIDv7 time; ±1 day absorbs clock skew and still prunes to one or two partitions. */
const POST_TIME_SLACK_MS = DAY_MS;

export class FeedService {
  readonly #posts: GroupCommitWriter<PostToWrite & GroupedItem, WrittenPostRow>;
  readonly #comments: GroupCommitWriter<CommentToWrite & GroupedItem, WrittenCommentRow>;
  readonly #keys: IdempotencyRepository;
  readonly #firstPages: FirstPages;

  constructor(private readonly d: FeedDeps) {
    this.#firstPages = d.firstPages ?? uncachedFirstPages;
    const batches = new PostBatchRepository(d.db);
    this.#posts = new GroupCommitWriter(d.db, d.logger, {
      name: 'feed.post_many',
      writeMany: (items) => batches.postMany(items, KEY_TTL_HOURS),
      wrote: (row) => row.inserted,
      table: 'status_updates',
    }, d.config.sendGrouping);
    const comments = new CommentBatchRepository(d.db);
    this.#comments = new GroupCommitWriter(d.db, d.logger, {
      name: 'feed.add_comments',
      writeMany: (items) => comments.addMany(items, KEY_TTL_HOURS),
      wrote: (row) => row.inserted,
      // Comments land in post_comments (not partitioned); the bump updates status_updates.
      table: 'status_updates',
    }, d.config.sendGrouping);
    this.#keys = new IdempotencyRepository(d.db);
  }

  async feed(viewerId: string, type: FeedType, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<Post>> {
    const n = pageSize(limit);
    if (cursor === undefined && type === 'following') {
      return this.#firstPages.page('feed_following', `${viewerId}:${n}`, ctx, (c) => this.#feed(viewerId, type, undefined, n, c));
    }
    const relationships = this.d.relationships;
    // With X-BGC-LSN the block check itself must read the database: the per-viewer query does it in one.
    if (cursor === undefined && type === 'global' && relationships && ctx.minLsn === undefined && !ctx.forcePrimary && n + 1 <= GLOBAL_HEAD_ROWS / 2) {
      const page = await this.#globalFromHead(viewerId, n, ctx, relationships);
      if (page) return page;
    }
    return this.#feed(viewerId, type, cursor, n, ctx);
  }

  /** The viewer's first global page cut from the shared head; undefined when the head is too short for them. */
  async #globalFromHead(viewerId: string, n: number, ctx: QueryContext, relationships: RelationshipReader): Promise<Page<Post> | undefined> {
    const head = await this.#firstPages.page<GlobalHead>('feed_global', 'head', ctx, async (c) => {
      const rows = await this.d.feed.globalHead(openWindow(undefined, INITIAL_DAYS.global), GLOBAL_HEAD_ROWS, c);
      return { rows, complete: rows.length < GLOBAL_HEAD_ROWS };
    });
    const window = openWindow(undefined, INITIAL_DAYS.global);
    const lowerMs = Date.parse(window.lowerTs);
    const inWindow = head.rows.filter((r) => Date.parse(r.created_at) >= lowerMs);
    // Newest first, until the page (plus one row, for the cursor) is full: only the authors
    // on it are looked up, each once, HEAD_LOOKUP_WIDTH at a time. On `large` a viewer's
    // relationship-set nodes are often cold: 21 lookups one after another made this page the
    // mixed workload's slowest (p99 138 ms), and all 21 at once took up to 16 pool
    // connections for one request and cost the others (mixed req/s -10%, docs/PERFORMANCE.md).
    const hidden = new Map<string, Promise<boolean>>();
    const isHidden = (authorId: string): Promise<boolean> => {
      let h = hidden.get(authorId);
      if (h === undefined) {
        h = authorId === viewerId
          ? Promise.resolve(false)
          : relationships.getRelationship(viewerId, authorId, ctx).then((edges) => edges.some((e) => e.kind === 'block'));
        hidden.set(authorId, h);
      }
      return h;
    };
    const rows: PostRow[] = [];
    let taken = 0;
    while (rows.length <= n && taken < inWindow.length) {
      const round = inWindow.slice(taken, taken + Math.min(HEAD_LOOKUP_WIDTH, n + 1 - rows.length));
      taken += round.length;
      const hide = await Promise.all(round.map((r) => isHidden(r.author_id)));
      round.forEach((r, i) => { if (!hide[i]) rows.push(r); });
    }
    if (rows.length <= n && !head.complete) return undefined;
    const next = nextWindowCursor(window, rows, n, retentionFloorMs(this.d.config.partitions.retentionMonths));
    return { items: rows.slice(0, n).map(toPost), next_cursor: next ? encodeCursor('feed_global', next) : null };
  }

  async #feed(viewerId: string, type: FeedType, cursor: string | undefined, n: number, ctx: QueryContext): Promise<Page<Post>> {
    const kind = type === 'global' ? 'feed_global' : 'feed_following';
    const window = openWindow(decodeCursor(kind, cursor), INITIAL_DAYS[type]);
    const rows = type === 'global'
      ? await this.d.feed.global(viewerId, window, n + 1, ctx)
      : await this.d.feed.following(viewerId, window, n + 1, ctx);
    const next = nextWindowCursor(window, rows, n, retentionFloorMs(this.d.config.partitions.retentionMonths));
    return { items: rows.slice(0, n).map(toPost), next_cursor: next ? encodeCursor(kind, next) : null };
  }

  /**
   * Grouped with concurrent posts into one statement and one commit (feed.post_many via
   * GroupCommitWriter, src/services/group-commit.ts); answered after that commit.
   */
  async post(authorId: string, content: string, key?: IdempotencyKey): Promise<Written<Post>> {
    requireText(content, 'content');
    const { id, createdAt } = newTimedId();
    const { row, lsn } = await this.#posts.write({ id, authorId, writerId: authorId, content, createdAt, key });
    if (row.inserted) {
      if (row.author_username === null) throw new Error('feed.post_many wrote a post without its author');
      const author = { id: authorId, username: row.author_username, display_name: row.author_display_name };
      return { value: { id, author, content, comment_count: row.comment_count, created_at: row.created_at }, lsn, replayed: false };
    }
    // Only a held key writes nothing: answer from its record (replay, or 422/409).
    if (!key) throw new Error('feed.post_many wrote nothing for a post without a key');
    const replay = await answerFromRecord<Post>(this.#keys, key, undefined);
    return { value: replay.value, lsn: await noteWrite(this.d.db, this.d.logger, authorId), replayed: true };
  }

  /** Groups of posts run so far and the members they carried (tests, diagnostics). */
  get postGroups(): WriteBatcherStats {
    return this.#posts.stats;
  }

  /** A post's comments as `viewerId` may see them: 404 across a block with its author, and no comments of users blocked either way. */
  async comments(viewerId: string, postId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<Comment>> {
    const n = pageSize(limit);
    const c = decodeCursor('comments', cursor);
    if (c && c.c !== postId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another post');
    const rows = await this.d.feed.listComments(viewerId, postId, postBounds(postId), c ?? { ts: '-infinity', id: MIN_UUID }, n + 1, ctx);
    if (!rows[0]?.post_exists) throw new AppError('NOT_FOUND', 'No such post');
    const all = rows.flatMap((r) => toComment(postId, r));
    const items = all.slice(0, n);
    const last = items[items.length - 1];
    return { items, next_cursor: all.length > n && last ? encodeCursor('comments', { c: postId, ts: last.created_at, id: last.id }) : null };
  }

  /**
   * Grouped with concurrent comments into one statement and one commit (feed.add_comments via
   * GroupCommitWriter, src/services/group-commit.ts); answered after that commit, with this
   * comment's own outcome.
   */
  async addComment(postId: string, authorId: string, content: string, key?: IdempotencyKey): Promise<Written<Comment & { readonly comment_count: number | null }>> {
    requireText(content, 'content');
    const { id, createdAt } = newTimedId();
    const bounds = postBounds(postId);
    const { row, lsn } = await this.#comments.write({ postId, postBounds: bounds, id, authorId, writerId: authorId, content, createdAt, key });
    if (row.inserted) {
      if (row.author_username === null) throw new Error('feed.add_comments wrote a comment without its author');
      const author = { id: authorId, username: row.author_username, display_name: row.author_display_name };
      return { value: { id, post_id: postId, content, created_at: row.created_at, author, comment_count: row.comment_count }, lsn, replayed: false };
    }
    const refusal = commentRefusalOf(row);
    if (!key) throw refusal ?? new Error('feed.add_comments wrote nothing for a comment without a key');
    // The key's record answers: a committed earlier request with this key (the refusal may
    // be its own doing, e.g. a block set after it), or 422/409 (src/services/idempotency.ts).
    const replay = await answerFromRecord<Comment & { readonly comment_count: number | null }>(this.#keys, key, refusal);
    return { value: replay.value, lsn: await noteWrite(this.d.db, this.d.logger, authorId), replayed: true };
  }

  /** Groups of comments run so far and the members they carried (tests, diagnostics). */
  get commentGroups(): WriteBatcherStats {
    return this.#comments.stats;
  }
}

/** Why a comment wrote nothing, or undefined when only its Idempotency-Key was held. */
function commentRefusalOf(row: WrittenCommentRow): AppError | undefined {
  if (!row.author_active) return suspendedMeanwhile();
  if (!row.post_exists) return new AppError('NOT_FOUND', 'No such post');
  if (row.blocked) return new AppError('BLOCKED', 'You cannot comment on this post');
  return undefined;
}

/** The partition range a post can be in, from its id; ids that are not UUIDv7 name no post. */
function postBounds(postId: string): { lowerTs: string; upperTs: string } {
  const ms = uuidV7Millis(postId);
  // A UUIDv7 can carry any 48-bit time, up to the year 10889 (found by the route fuzzer):
  // no post is from the future, and past the year 9999 the bounds would not even parse in
  // PostgreSQL (22009). Such an id names no post.
  if (ms === undefined || ms > Date.now() + POST_TIME_SLACK_MS) throw new AppError('NOT_FOUND', 'No such post');
  return { lowerTs: new Date(ms - POST_TIME_SLACK_MS).toISOString(), upperTs: new Date(ms + POST_TIME_SLACK_MS).toISOString() };
}

function toPost(r: PostRow): Post {
  return {
    id: r.id,
    author: { id: r.author_id, username: r.author_username, display_name: r.author_display_name },
    content: r.content,
    comment_count: r.comment_count,
    created_at: r.created_at,
  };
}

function toComment(postId: string, r: CommentPageRow): Comment[] {
  if (!r.id || !r.author_id || r.author_username === null || r.content === null || !r.created_at) return [];
  return [{
    id: r.id, post_id: postId, content: r.content, created_at: r.created_at,
    author: { id: r.author_id, username: r.author_username, display_name: r.author_display_name },
  }];
}
