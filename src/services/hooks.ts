/**
 * Write hooks: how the cache layer (or anything else) hears about writes without the
 * services knowing it exists. Services call them AFTER the write committed (every write
 * here is one auto-committed statement) and after the read-your-writes LSN is known, and
 * await them in order. A listener that throws fails the request; every hooked write is
 * idempotent (profile PUT, logout, relationship changes), so the client may retry.
 *
 * Listeners get the LSN of the write when there are replicas: a cache that re-reads after
 * invalidation should read with `{ minLsn: lsn }` (or from the primary) so a lagging
 * replica cannot put the old value straight back.
 */
export type ProfileChangedListener = (userId: string, lsn: string | undefined) => void | Promise<void>;
/** `tokenHash` is the hex sha256 of the session token (tokenHashHex), never the token itself. */
export type SessionRevokedListener = (tokenHash: string, userId: string) => void | Promise<void>;
export type RelationshipChangedListener = (userId: string, otherUserId: string, lsn: string | undefined) => void | Promise<void>;

/** A direct message as POST /api/chat/conversations/:id/messages returns it, and its other member. */
export interface DirectMessageWritten {
  readonly message: { readonly id: string; readonly conversation_id: string; readonly sender_id: string; readonly content: string; readonly created_at: string };
  readonly recipientId: string;
}
/** A room message as POST /api/chat/rooms/:id/messages returns it. */
export interface RoomMessageWritten {
  readonly message: {
    readonly id: string; readonly room_id: string; readonly content: string; readonly created_at: string;
    readonly sender: { readonly id: string; readonly username: string | null; readonly display_name: string | null };
  };
  /** Answered from its Idempotency-Key record: an earlier attempt wrote it (and may not have announced it). */
  readonly replayed?: boolean;
}
/** A member marked a conversation read (only when the read state changed). */
export interface ConversationReadWritten {
  readonly conversationId: string;
  readonly userId: string;
  readonly lastReadAt: string | null;
  /** The conversation's other member, from the write itself. */
  readonly peerId: string | null;
}
/**
 * Chat writes, for the real-time layer (src/realtime). Unlike the cache listeners these
 * are notifications, not part of the write's correctness: a listener must not throw
 * (the database stays the record; clients catch up with `sync`).
 */
export type DirectMessageListener = (w: DirectMessageWritten, lsn: string | undefined) => void | Promise<void>;
export type RoomMessageListener = (w: RoomMessageWritten, lsn: string | undefined) => void | Promise<void>;
export type ConversationReadListener = (w: ConversationReadWritten, lsn: string | undefined) => void | Promise<void>;
/**
 * A send answered from its Idempotency-Key record (the message was written by an earlier
 * attempt, whose own hooks may never have run: its commit's answer was lost, or its instance
 * died after the commit). Caches of the conversation's pages hear of it, and the real-time
 * layer announces the message again: clients keep messages by id, so a second announcement
 * changes nothing, and a first one that never went out is made good.
 */
export interface DirectMessageReplayed {
  readonly conversationId: string;
  readonly senderId: string;
  /** The other member, when the conversation was found (its inbox holds the message too). */
  readonly recipientId: string | null;
  /** The message as the first attempt's answer recorded it. */
  readonly message: DirectMessageWritten['message'];
}
export type DirectMessageReplayedListener = (w: DirectMessageReplayed, lsn: string | undefined) => void | Promise<void>;
/**
 * A moderator hid a direct message (a case resolved with hide or suspend): it leaves its
 * conversation's history, and may leave both members' inboxes (the last message, the
 * recipient's unread count). Room messages are not announced here.
 */
export interface MessageHidden {
  readonly conversationId: string;
  /** The conversation's two members, from the write itself. */
  readonly memberIds: readonly string[];
}
export type MessageHiddenListener = (w: MessageHidden, lsn: string | undefined) => void | Promise<void>;
/**
 * A moderator suspended an account (after the commit): every read that shows content now
 * leaves theirs out, so caches of pages that may hold it (the chat pages of each of their
 * conversations) must hear of it. A listener bounds its own time and must not throw: the
 * suspension stands, and an unannounced page expires with its TTL.
 */
export interface AccountSuspended {
  readonly userId: string;
}
export type AccountSuspendedListener = (w: AccountSuspended, lsn: string | undefined) => void | Promise<void>;

export class WriteHooks {
  readonly #profile: ProfileChangedListener[] = [];
  readonly #session: SessionRevokedListener[] = [];
  readonly #relationship: RelationshipChangedListener[] = [];
  readonly #directMessage: DirectMessageListener[] = [];
  readonly #roomMessage: RoomMessageListener[] = [];
  readonly #conversationRead: ConversationReadListener[] = [];
  readonly #directMessageReplayed: DirectMessageReplayedListener[] = [];
  readonly #messageHidden: MessageHiddenListener[] = [];
  readonly #accountSuspended: AccountSuspendedListener[] = [];

  onProfileChanged(fn: ProfileChangedListener): void { this.#profile.push(fn); }
  onSessionRevoked(fn: SessionRevokedListener): void { this.#session.push(fn); }
  onRelationshipChanged(fn: RelationshipChangedListener): void { this.#relationship.push(fn); }
  onDirectMessage(fn: DirectMessageListener): void { this.#directMessage.push(fn); }
  onRoomMessage(fn: RoomMessageListener): void { this.#roomMessage.push(fn); }
  onConversationRead(fn: ConversationReadListener): void { this.#conversationRead.push(fn); }
  onDirectMessageReplayed(fn: DirectMessageReplayedListener): void { this.#directMessageReplayed.push(fn); }
  onMessageHidden(fn: MessageHiddenListener): void { this.#messageHidden.push(fn); }
  onAccountSuspended(fn: AccountSuspendedListener): void { this.#accountSuspended.push(fn); }

  async profileChanged(userId: string, lsn: string | undefined): Promise<void> {
    for (const fn of this.#profile) await fn(userId, lsn);
  }

  async sessionRevoked(tokenHash: string, userId: string): Promise<void> {
    for (const fn of this.#session) await fn(tokenHash, userId);
  }

  async relationshipChanged(userId: string, otherUserId: string, lsn: string | undefined): Promise<void> {
    for (const fn of this.#relationship) await fn(userId, otherUserId, lsn);
  }

  async directMessage(w: DirectMessageWritten, lsn: string | undefined): Promise<void> {
    for (const fn of this.#directMessage) await fn(w, lsn);
  }

  async roomMessage(w: RoomMessageWritten, lsn: string | undefined): Promise<void> {
    for (const fn of this.#roomMessage) await fn(w, lsn);
  }

  async conversationRead(w: ConversationReadWritten, lsn: string | undefined): Promise<void> {
    for (const fn of this.#conversationRead) await fn(w, lsn);
  }

  async directMessageReplayed(w: DirectMessageReplayed, lsn: string | undefined): Promise<void> {
    for (const fn of this.#directMessageReplayed) await fn(w, lsn);
  }

  async messageHidden(w: MessageHidden, lsn: string | undefined): Promise<void> {
    for (const fn of this.#messageHidden) await fn(w, lsn);
  }

  async accountSuspended(w: AccountSuspended, lsn: string | undefined): Promise<void> {
    for (const fn of this.#accountSuspended) await fn(w, lsn);
  }
}
