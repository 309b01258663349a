import type { Config } from '../../config/index.ts';
import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { GroupFeedRepository, PostBounds } from '../../repositories/group-feed.repository.ts';
import type { CommentPageRow, PostRow } from '../../repositories/feed.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { withPartitionRetry } from '../../partitions/on-demand.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { Comment, Post } from '../feed/feed.service.ts';
import { newTimedId, uuidV7Millis } from '../ids.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import { noteWrite, pageSize, requireText, suspendedMeanwhile, type Page, type Written } from '../support.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs } from '../time-window.ts';

interface GroupFeedDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly feed: GroupFeedRepository;
}

/** Group feeds are quieter than the global one: the first window is a month, widened fourfold when short. */
const INITIAL_DAYS = 31;
/** A post's created_at equals its UUIDv7 time; ±1 day absorbs clock skew (as in the public feed). */
const POST_TIME_SLACK_MS = DAY_MS;

/**
 * A group's posts and comments, for its members only: 404 for no such (active) group,
 * 403 for a non-member, whatever the group's visibility. Posts between users who block
 * each other are hidden, and comments across a block are refused, as in the public feed.
 */
export class GroupFeedService {
  constructor(private readonly d: GroupFeedDeps) {}

  async feed(viewerId: string, groupId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<Post>> {
    const n = pageSize(limit);
    const c = decodeCursor('group_feed', cursor);
    if (c && c.g !== groupId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another group');
    const window = openWindow(c, INITIAL_DAYS);
    const rows = await this.d.feed.feed(groupId, viewerId, window, n + 1, ctx);
    const head = rows[0];
    access(head);
    const posts = rows.flatMap(toPost);
    // Nothing is older than the group, nor than the retention horizon.
    const floor = Math.max(retentionFloorMs(this.d.config.partitions.retentionMonths), Date.parse(head?.group_created_at ?? '') || 0);
    const next = nextWindowCursor(window, posts, n, floor);
    return { items: posts.slice(0, n), next_cursor: next ? encodeCursor('group_feed', { g: groupId, ...next }) : null };
  }

  /** With an Idempotency-Key, the post and the key's record commit together (src/services/idempotency.ts). */
  async post(authorId: string, groupId: string, content: string, key?: IdempotencyKey): Promise<Written<Post>> {
    requireText(content, 'content');
    const { id, createdAt } = newTimedId();
    const { value, replayed } = await withPartitionRetry(() => runIdempotent(this.d.db, key, async (q) => {
      const row = await this.d.feed.post(groupId, { id, authorId, content, createdAt }, q);
      access(row);
      const [post] = toPost(row);
      if (!post) throw new Error('group.post inserted nothing');
      return post;
    }), this.d.db, 'status_updates', createdAt);
    const lsn = await noteWrite(this.d.db, this.d.logger, authorId);
    return { value, lsn, replayed };
  }

  async comments(viewerId: string, groupId: string, postId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<Comment>> {
    const n = pageSize(limit);
    const c = decodeCursor('comments', cursor);
    if (c && c.c !== postId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another post');
    const rows = await this.d.feed.listComments(groupId, viewerId, postId, postBounds(postId), c ?? { ts: '-infinity', id: MIN_UUID }, n + 1, ctx);
    const head = rows[0];
    access(head);
    if (!head?.post_exists) throw new AppError('NOT_FOUND', 'No such post in this group');
    const all = rows.flatMap((r) => toComment(postId, r));
    const items = all.slice(0, n);
    const last = items[items.length - 1];
    return { items, next_cursor: all.length > n && last ? encodeCursor('comments', { c: postId, ts: last.created_at, id: last.id }) : null };
  }

  async addComment(authorId: string, groupId: string, postId: string, content: string, key?: IdempotencyKey): Promise<Written<Comment & { readonly comment_count: number | null }>> {
    requireText(content, 'content');
    const { id, createdAt } = newTimedId();
    const bounds = postBounds(postId);
    const { value, replayed } = await runIdempotent(this.d.db, key, async (q) => {
      const row = await this.d.feed.addComment(groupId, postId, bounds, { id, authorId, content, createdAt }, q);
      if (!row.author_active) throw suspendedMeanwhile();
      access(row);
      if (!row.post_exists) throw new AppError('NOT_FOUND', 'No such post in this group');
      if (row.blocked) throw new AppError('BLOCKED', 'You cannot comment on this post');
      const [comment] = toComment(postId, row);
      if (!comment) throw new Error('group.add_comment inserted nothing');
      return { ...comment, comment_count: row.comment_count };
    });
    const lsn = await noteWrite(this.d.db, this.d.logger, authorId);
    return { value, lsn, replayed };
  }
}

function access(row: { readonly group_exists: boolean; readonly is_member: boolean } | undefined): void {
  if (!row?.group_exists) throw new AppError('NOT_FOUND', 'No such group');
  if (!row.is_member) throw new AppError('FORBIDDEN', "A group's feed is for its members only");
}

/** The partition range a post can be in, from its id; ids that are not UUIDv7 (or from the future) name no post. */
function postBounds(postId: string): PostBounds {
  const ms = uuidV7Millis(postId);
  if (ms === undefined || ms > Date.now() + POST_TIME_SLACK_MS) throw new AppError('NOT_FOUND', 'No such post in this group');
  return { lowerTs: new Date(ms - POST_TIME_SLACK_MS).toISOString(), upperTs: new Date(ms + POST_TIME_SLACK_MS).toISOString() };
}

function toPost(r: { readonly [K in keyof PostRow]: PostRow[K] | null }): Post[] {
  if (!r.id || !r.author_id || r.author_username === null || r.content === null || r.comment_count === null || !r.created_at) return [];
  return [{
    id: r.id,
    author: { id: r.author_id, username: r.author_username, display_name: r.author_display_name },
    content: r.content, comment_count: r.comment_count, created_at: r.created_at,
  }];
}

function toComment(postId: string, r: CommentPageRow): Comment[] {
  if (!r.id || !r.author_id || r.author_username === null || r.content === null || !r.created_at) return [];
  return [{
    id: r.id, post_id: postId, content: r.content, created_at: r.created_at,
    author: { id: r.author_id, username: r.author_username, display_name: r.author_display_name },
  }];
}
