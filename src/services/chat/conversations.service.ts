import type { Config } from '../../config/index.ts';
import type { Database, QueryContext, Tx } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { ConversationRepository, InboxRow } from '../../repositories/conversations.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { newId, newTimedId, type TimedId } from '../ids.ts';
import { MessageBatchRepository, type MessageToSend, type SentRow } from '../../repositories/message-batch.repository.ts';
import { IdempotencyRepository } from '../../repositories/idempotency.repository.ts';
import { answerFromRecord, KEY_TTL_HOURS, runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import type { WriteBatcherOptions, WriteBatcherStats } from '../write-batcher.ts';
import { GroupCommitWriter, type GroupedItem } from '../group-commit.ts';
import { noteWrite, noteWriteAnd, notSelf, pageSize, requireText, type Page, type Written } from '../support.ts';
import type { WriteHooks } from '../hooks.ts';
import { pageScope, uncachedFirstPages, type FirstPages } from '../first-pages.ts';
import { SEND_WINDOW, untimelySend } from './send-window.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs } from '../time-window.ts';

export interface ConversationRef {
  readonly id: string;
  readonly recipient_id: string;
  readonly created_at: string;
  /** false when the pair already had a conversation (it is returned as is). */
  readonly created: boolean;
}

export interface InboxItem {
  readonly id: string;
  readonly other_user: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly unread_count: number;
  readonly last_read_at: string | null;
  readonly last_message_at: string;
  readonly last_message: { readonly id: string; readonly sender_id: string; readonly content: string; readonly created_at: string } | null;
}

export interface DirectMessage {
  readonly id: string;
  readonly conversation_id: string;
  readonly sender_id: string;
  readonly content: string;
  readonly created_at: string;
}

interface ConversationDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly conversations: ConversationRepository;
  /** Grouped sends' statement; made from `db` when not given. */
  readonly messageBatches?: MessageBatchRepository;
  /** Group commit of sends (src/services/write-batcher.ts); config.sendGrouping when not given. */
  readonly sendGrouping?: WriteBatcherOptions;
  /** After-commit notifications (real-time delivery); they never fail the write. */
  readonly hooks: WriteHooks;
  /** First pages of the inbox and of each member's history, possibly from the cache. */
  readonly firstPages?: FirstPages;
  /** Makes a send's id and time; newTimedId when not given (tests date sends in the past or future). */
  readonly timedId?: () => TimedId;
}

/** First history window: a month covers a busy conversation's page in one or two partitions. */
const HISTORY_INITIAL_DAYS = 31;
export const DEFAULT_HISTORY_PAGE = 50;
/** Messages may carry a timestamp a little before their conversation's row (clock skew between app hosts). */
const FLOOR_SLACK_MS = DAY_MS;

/**
 * Direct conversations. Only the two members may read or post (403 otherwise, 404 for an
 * unknown id); a block in either direction stops new conversations and messages (403 BLOCKED).
 */
export class ConversationService {
  readonly #sender: GroupCommitWriter<MessageToSend & GroupedItem, SentRow>;
  readonly #keys: IdempotencyRepository;
  readonly #firstPages: FirstPages;

  constructor(private readonly d: ConversationDeps) {
    this.#firstPages = d.firstPages ?? uncachedFirstPages;
    const batches = d.messageBatches ?? new MessageBatchRepository(d.db);
    this.#sender = new GroupCommitWriter(d.db, d.logger, {
      name: 'chat.send_messages',
      writeMany: (items) => batches.sendMany(items, KEY_TTL_HOURS, SEND_WINDOW),
      wrote: (row) => row.inserted,
      table: 'messages',
      // The pages' change positions are raised (and the message published) before the send is answered.
      afterCommit: async (item, row, lsn) => {
        if (row.recipient_id) await d.hooks.directMessage({ message: sentMessage(item, row), recipientId: row.recipient_id }, lsn);
      },
    }, d.sendGrouping ?? d.config.sendGrouping);
    this.#keys = new IdempotencyRepository(d.db);
  }

  async open(userId: string, recipientId: string, key?: IdempotencyKey): Promise<Written<ConversationRef>> {
    notSelf(userId, recipientId, 'open a conversation with');
    const { value, replayed } = await runIdempotent(this.d.db, key, (q) => this.#open(userId, recipientId, q));
    return { value, lsn: value.created ? await noteWrite(this.d.db, this.d.logger, userId) : undefined, replayed };
  }

  async #open(userId: string, recipientId: string, q: Tx): Promise<ConversationRef> {
    // Two tries: a concurrent open of the same pair can make the first see neither its own
    // insert (conflict) nor the other's row (snapshot); the second sees the winner.
    for (let attempt = 0; attempt < 2; attempt++) {
      const row = await this.d.conversations.open(userId, recipientId, newId(), q);
      if (!row.target_exists) throw new AppError('NOT_FOUND', 'No such user');
      if (row.blocked) throw new AppError('BLOCKED', 'You cannot open a conversation with this user');
      if (row.id && row.created_at) return { id: row.id, recipient_id: recipientId, created_at: row.created_at, created: row.created };
    }
    throw new AppError('CONFLICT', 'The conversation is being created concurrently; retry');
  }

  async inbox(userId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<InboxItem>> {
    const n = pageSize(limit);
    if (cursor === undefined) return this.#firstPages.page('inbox', `${userId}:${n}`, ctx, (c) => this.#inbox(userId, undefined, n, c), pageScope.inbox(userId));
    return this.#inbox(userId, cursor, n, ctx);
  }

  async #inbox(userId: string, cursor: string | undefined, n: number, ctx: QueryContext): Promise<Page<InboxItem>> {
    const after = decodeCursor('inbox', cursor) ?? { ts: 'infinity', id: MIN_UUID };
    const rows = await this.d.conversations.inbox(userId, after, n + 1, ctx);
    const items = rows.slice(0, n).map(toInboxItem);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > n && last ? encodeCursor('inbox', { ts: last.last_message_at, id: last.id }) : null };
  }

  async history(conversationId: string, userId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<DirectMessage>> {
    const n = pageSize(limit, DEFAULT_HISTORY_PAGE);
    if (cursor === undefined) {
      return this.#firstPages.page('history', `${conversationId}:${userId}:${n}`, ctx, (q) => this.#history(conversationId, userId, undefined, n, q), pageScope.conversation(conversationId));
    }
    return this.#history(conversationId, userId, cursor, n, ctx);
  }

  async #history(conversationId: string, userId: string, cursor: string | undefined, n: number, ctx: QueryContext): Promise<Page<DirectMessage>> {
    const c = decodeCursor('conversation_history', cursor);
    if (c && c.c !== conversationId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another conversation');
    const window = openWindow(c, HISTORY_INITIAL_DAYS);
    const rows = await this.d.conversations.history(conversationId, userId, window, n + 1, ctx);
    const head = rows[0];
    if (!head || head.container_created_at === null) throw new AppError('NOT_FOUND', 'No such conversation');
    if (!head.is_member) throw new AppError('FORBIDDEN', 'You are not a member of this conversation');
    const fetched = rows.flatMap((r) => (r.id && r.sender_id && r.content !== null && r.created_at
      ? [{ id: r.id, conversation_id: conversationId, sender_id: r.sender_id, content: r.content, created_at: r.created_at }]
      : []));
    const floor = Math.max(Date.parse(head.container_created_at) - FLOOR_SLACK_MS, retentionFloorMs(this.d.config.partitions.retentionMonths));
    const next = nextWindowCursor(window, fetched, n, floor);
    return { items: fetched.slice(0, n), next_cursor: next ? encodeCursor('conversation_history', { c: conversationId, ...next }) : null };
  }

  /**
   * Grouped with concurrent sends into one statement and one commit (chat.send_messages via
   * GroupCommitWriter, src/services/group-commit.ts); answered after that commit, with this send's own outcome.
   * A send the statement found outside the send window (it waited too long: src/services/chat/send-window.ts)
   * stored nothing and is answered 503 SEND_UNTIMELY, or from its key's record if an earlier attempt holds it.
   */
  async send(conversationId: string, senderId: string, content: string, key?: IdempotencyKey): Promise<Written<DirectMessage>> {
    requireText(content, 'content');
    const { id, createdAt } = (this.d.timedId ?? newTimedId)();
    const { row, lsn } = await this.#sender.write({ conversationId, senderId, writerId: senderId, id, content, createdAt, key });
    // Announced by the group (afterCommit), alongside the writer's read-your-writes mark.
    if (row.inserted) return { value: sentMessage({ id, conversationId, senderId, content }, row), lsn, replayed: false };
    const refusal = refusalOf(row);
    if (!key) throw refusal ?? new Error('chat.send_messages wrote nothing for a send without a key');
    // The key's record answers: a committed earlier request with this key (the refusal may
    // be its own doing, e.g. a block set after it), or 422/409 (src/services/idempotency.ts).
    // A replay is announced again (WriteHooks, DirectMessageReplayed): the attempt that wrote
    // the message may never have announced it.
    const replay = await answerFromRecord<DirectMessage>(this.#keys, key, refusal);
    const replayedLsn = await noteWriteAnd(this.d.db, this.d.logger, senderId,
      (at) => this.d.hooks.directMessageReplayed({ conversationId, senderId, recipientId: row.recipient_id, message: replay.value }, at));
    return { value: replay.value, lsn: replayedLsn, replayed: true };
  }

  /** Groups of sends run so far and the members they carried (tests, diagnostics). */
  get sendGroups(): WriteBatcherStats {
    return this.#sender.stats;
  }

  async markRead(conversationId: string, userId: string): Promise<Written<{ conversation_id: string; unread_count: number; last_read_at: string | null }>> {
    const row = await this.d.conversations.markRead(conversationId, userId);
    if (!row.container_exists) throw new AppError('NOT_FOUND', 'No such conversation');
    if (!row.is_member) throw new AppError('FORBIDDEN', 'You are not a member of this conversation');
    const lsn = row.changed
      ? await noteWriteAnd(this.d.db, this.d.logger, userId, (at) => this.d.hooks.conversationRead({ conversationId, userId, lastReadAt: row.last_read_at, peerId: row.peer_id }, at))
      : undefined;
    return { value: { conversation_id: conversationId, unread_count: 0, last_read_at: row.last_read_at }, lsn };
  }
}

/** The message a send wrote, as the API shows it (created_at as the database formatted it). */
function sentMessage(m: Pick<MessageToSend, 'id' | 'conversationId' | 'senderId' | 'content'>, row: SentRow): DirectMessage {
  return { id: m.id, conversation_id: m.conversationId, sender_id: m.senderId, content: m.content, created_at: row.created_at };
}

/**
 * Why a send wrote nothing, or undefined when only its Idempotency-Key was held. Refusals that a
 * retry would meet again come first; an untimely send was not checked for blocks.
 */
function refusalOf(row: SentRow): AppError | undefined {
  if (!row.container_exists) return new AppError('NOT_FOUND', 'No such conversation');
  if (!row.is_member) return new AppError('FORBIDDEN', 'You are not a member of this conversation');
  if (row.untimely) return untimelySend();
  if (row.blocked) return new AppError('BLOCKED');
  return undefined;
}

function toInboxItem(r: InboxRow): InboxItem {
  return {
    id: r.id,
    other_user: { id: r.other_id, username: r.other_username, display_name: r.other_display_name },
    unread_count: r.unread_count,
    last_read_at: r.last_read_at,
    last_message_at: r.last_message_at,
    last_message: r.message_id && r.message_sender_id && r.message_content !== null && r.message_created_at
      ? { id: r.message_id, sender_id: r.message_sender_id, content: r.message_content, created_at: r.message_created_at }
      : null,
  };
}
