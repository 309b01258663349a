import type { ChannelKind, RealtimeBus } from '../cache/realtime-bus.ts';
import type { Logger } from '../logging/logger.ts';
import type { PushedType, RealtimeMetrics } from '../metrics/realtime.metrics.ts';
import type { RealtimeRepository } from '../repositories/realtime.repository.ts';
import type { ConversationReadWritten, DirectMessageWritten, RoomMessageWritten } from '../services/hooks.ts';
import type { ProfileReader, RelationshipReader } from '../services/index.ts';
import { CLOSE, decodeBusFrame, encodeBusFrame, events, type BusKind, type BusMeta } from './protocol.ts';
import type { ConnectionRegistry } from './registry.ts';
import type { RealtimeConnection } from './connection.ts';

interface DeliveryDeps {
  readonly registry: ConnectionRegistry;
  readonly bus: RealtimeBus;
  readonly metrics: RealtimeMetrics;
  readonly relationships: RelationshipReader;
  /**
   * The cached profile read (null for a suspended account): a message is pushed only while
   * its sender's account is active. Suspension invalidates it (WriteHooks.profileChanged).
   */
  readonly profiles: ProfileReader;
  readonly repo: RealtimeRepository;
  readonly logger: Logger;
}

const PUSHED: Record<Exclude<BusKind, 'revoke' | 'resync'>, PushedType> = { message: 'message', room_message: 'room_message', read: 'read', typing: 'typing' };
/** Channels remembered for a `resync` after failed publishes (beyond it, logged and forgotten). */
const MAX_MISSED = 100_000;
const RESYNC_RETRY_MS = 1_000;
/**
 * Room frames waiting behind a room's delivery queue (each step waits on block checks, up to
 * the pool's acquire timeout while relationships cannot be read). Past it a frame is not
 * queued: the room's local joiners get one `resync` with its `room_id` instead.
 */
export const MAX_ROOM_BACKLOG = 200;
/** A socket is told to resync a room for an unreadable block at most this often. */
export const ROOM_RESYNC_EVERY_MS = 5_000;
/** A keyed retry's replay is announced only for a message younger than this. */
export const REPLAY_ANNOUNCE_WINDOW_MS = 60_000;
const MAX_REPLAYS_REMEMBERED = 10_000;

/**
 * Both halves of delivery. Publishing: after-commit hooks and typing frames become one
 * frame per recipient channel (a direct message goes to both members' channels, so the
 * sender's other devices see it too). Receiving: a frame on a user channel goes to every
 * local socket of that user, in the order Redis delivered it; a frame on a room channel
 * goes to the room's local joiners except those with a block in either direction with
 * the sender (checked through the cached relationship reader, from the sender's side:
 * one cached set answers every joiner). Room frames are delivered one after another per
 * room, so the asynchronous block check cannot reorder them.
 *
 * Moderation: a message is published only if its sender's account is still active (a
 * suspension ends the sender's sessions, but a send already past authentication can
 * commit just after it); the check goes through the cached profile reader, one sender's
 * messages one after another so it cannot reorder them either. What a moderator hid, or
 * a suspended account wrote, never comes back through `sync` (realtime.repository.ts).
 */
export class Delivery {
  readonly #roomQueues = new Map<string, Promise<void>>();
  /** Frames queued per room (MAX_ROOM_BACKLOG). */
  readonly #roomBacklog = new Map<string, number>();
  readonly #senderQueues = new Map<string, Promise<void>>();
  /** `<kind>:<id>` of channels whose publish failed; they get a `resync` once publishing works. */
  readonly #missed = new Set<string>();
  /**
   * Revocations whose publish failed, by token hash: sent again as revocations (a generic
   * `resync` would leave the revoked session's sockets on other instances open until the
   * periodic re-check, minutes, where no NOTIFY backstop runs, as with the cache off).
   */
  readonly #pendingRevokes = new Map<string, string>();
  /** Message ids whose replay was announced here (#firstReplayAnnouncement), oldest first. */
  readonly #replaysAnnounced = new Set<string>();
  #stopped = false;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: DeliveryDeps) {}

  // ---- publishing ------------------------------------------------------------------

  directMessage(w: DirectMessageWritten, lsn: string | undefined): void {
    const m = w.message;
    const to = [m.sender_id, w.recipientId];
    this.#fromActiveSender(m.sender_id, 'user', to, () => {
      const t = Date.now();
      this.#publish('user', to, { t, k: 'message', s: m.sender_id }, events.message(m.conversation_id, m, lsn, t));
    });
  }

  /**
   * A keyed retry answered from its record (the attempt that wrote the message may never have
   * announced it: its commit's answer was lost). The record's body is from before any block or
   * moderator's hide since, so it is not pushed: both members are told to `resync`, and `sync`
   * filters blocks, hides and suspensions in SQL. Before, the body went to the recipient even
   * after they had blocked the sender, as often as the sender retried with the key.
   */
  directMessageReplayed(senderId: string, recipientId: string | null, message: { readonly id: string; readonly created_at: string }): void {
    if (!this.#firstReplayAnnouncement(message)) return;
    const to = recipientId === null ? [senderId] : [senderId, recipientId];
    this.#publish('user', to, { t: Date.now(), k: 'resync' }, events.resync('replayed'));
  }

  /** A room message's keyed retry: the room's joiners are told to resync it (as directMessageReplayed). */
  roomMessageReplayed(roomId: string, message: { readonly id: string; readonly created_at: string }): void {
    if (!this.#firstReplayAnnouncement(message)) return;
    this.#publish('room', [roomId], { t: Date.now(), k: 'resync' }, events.resync('replayed', roomId));
  }

  /**
   * A replay is announced once per message on this instance, and only while the message is
   * young: the attempt that may not have announced it was moments ago. A sender retrying one
   * key in a loop (kept 25 h) otherwise had every member, a blocker included, told again and
   * again, each answering with a database read.
   */
  #firstReplayAnnouncement(message: { readonly id: string; readonly created_at: string }): boolean {
    const age = Date.now() - Date.parse(message.created_at);
    if (!(age < REPLAY_ANNOUNCE_WINDOW_MS) || this.#replaysAnnounced.has(message.id)) return false;
    this.#replaysAnnounced.add(message.id);
    if (this.#replaysAnnounced.size > MAX_REPLAYS_REMEMBERED) {
      const oldest = this.#replaysAnnounced.values().next();
      if (!oldest.done) this.#replaysAnnounced.delete(oldest.value);
    }
    return true;
  }

  roomMessage(w: RoomMessageWritten, lsn: string | undefined): void {
    const m = w.message;
    this.#fromActiveSender(m.sender.id, 'room', [m.room_id], () => {
      const t = Date.now();
      this.#publish('room', [m.room_id], { t, k: 'room_message', s: m.sender.id }, events.roomMessage(m.room_id, m, lsn, t));
    });
  }

  /**
   * Runs `publish` once the sender's account is known to be active, after that sender's
   * earlier messages. A suspended sender's message is dropped (counted). If the account
   * cannot be read, nothing is published and the recipients are told to `resync` (their
   * `sync` reads PostgreSQL, which leaves out suspended accounts' messages).
   */
  #fromActiveSender(senderId: string, kind: ChannelKind, to: readonly string[], publish: () => void): void {
    const prev = this.#senderQueues.get(senderId) ?? Promise.resolve();
    const next = prev.then(async () => {
      let active: boolean;
      try {
        active = (await this.d.profiles.getProfileView(senderId, {})) !== null;
      } catch (err) {
        this.d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'realtime: sender lookup failed; recipients will resync');
        this.#noteMissed(kind, to);
        return;
      }
      if (active) publish();
      else this.d.metrics.dropped.inc({ reason: 'sender_suspended' }, to.length);
    });
    this.#senderQueues.set(senderId, next);
    void next.then(() => { if (this.#senderQueues.get(senderId) === next) this.#senderQueues.delete(senderId); });
  }

  /** To the reader's own sockets (other devices) and to the other member unless a block stands between them. */
  async conversationRead(w: ConversationReadWritten, lsn: string | undefined): Promise<void> {
    // The write named the other member: no read here that could fail (before, a failed lookup
    // lost the receipt, and the peer was not told to resync either).
    const peer = w.peerId ?? undefined;
    const to = [w.userId];
    const between = peer ? await this.#blockBetween(w.userId, peer) : 'blocked';
    if (peer && between === 'clear') to.push(peer);
    // Not known to be blocked, only unreadable: the peer is told to resync instead.
    if (peer && between === 'unknown') this.#noteMissed('user', [peer]);
    const t = Date.now();
    this.#publish('user', to, { t, k: 'read', s: w.userId }, events.read(w.conversationId, w.userId, w.lastReadAt, lsn, t));
  }

  typingInConversation(userId: string, conversationId: string, peerId: string): void {
    const t = Date.now();
    this.#publish('user', [peerId], { t, k: 'typing', s: userId }, events.typing({ conversation_id: conversationId }, userId, t));
  }

  typingInRoom(userId: string, roomId: string): void {
    const t = Date.now();
    this.#publish('room', [roomId], { t, k: 'typing', s: userId }, events.typing({ room_id: roomId }, userId, t));
  }

  /** Tells every instance holding a socket of this session to close it. */
  revoke(userId: string, tokenHash: string): void {
    this.d.bus.publish('user', [userId], encodeBusFrame({ t: Date.now(), k: 'revoke', h: tokenHash }, ''))
      .then((failed) => failed.length === 0, () => false)
      .then((sent) => {
        if (sent) return;
        this.d.metrics.dropped.inc({ reason: 'publish_failed' });
        if (this.#pendingRevokes.size >= MAX_MISSED) {
          this.d.logger.warn({ kept: MAX_MISSED }, 'realtime: too many revocations awaiting a publish; this one relies on the periodic session re-check');
          return;
        }
        this.#pendingRevokes.set(tokenHash, userId);
        this.#scheduleResyncs();
      });
  }

  /**
   * A block in either direction between the two. Fails closed: if the relationship cannot
   * be read, nothing is delivered between them (they may be blocked). Where a message or a
   * read receipt is withheld that way, the recipient is sent `resync`, and its client
   * recovers what it missed with `sync`, which filters blocks in SQL.
   */
  async blocked(a: string, b: string): Promise<boolean> {
    return (await this.#blockBetween(a, b)) !== 'clear';
  }

  /** 'unknown' when the relationship could not be read (the caller does not deliver, and says so). */
  async #blockBetween(a: string, b: string): Promise<'blocked' | 'clear' | 'unknown'> {
    try {
      const edges = await this.d.relationships.getRelationship(a, b, { userId: a });
      return edges.some((e) => e.kind === 'block') ? 'blocked' : 'clear';
    } catch (err) {
      this.d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'realtime: relationship lookup failed; not delivering');
      return 'unknown';
    }
  }

  #publish(kind: ChannelKind, ids: readonly string[], meta: BusMeta, event: string): void {
    this.d.bus.publish(kind, ids, encodeBusFrame(meta, event))
      .then((failed) => this.#noteMissed(kind, failed))
      .catch(() => this.#noteMissed(kind, ids));
  }

  /**
   * A publish that failed is an event its recipients will never get pushed. They are told
   * (`resync`, on their channel) as soon as publishing works again, so their clients catch
   * up from PostgreSQL instead of waiting for the next gap they happen to notice.
   */
  #noteMissed(kind: ChannelKind, ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.d.metrics.dropped.inc({ reason: 'publish_failed' }, ids.length);
    for (const id of ids) {
      if (this.#missed.size >= MAX_MISSED) {
        this.d.logger.warn({ kept: MAX_MISSED }, 'realtime: too many channels awaiting a resync; some clients will only catch up at their next reconnect');
        break;
      }
      this.#missed.add(`${kind}:${id}`);
    }
    this.#scheduleResyncs();
  }

  #scheduleResyncs(): void {
    if (this.#stopped || this.#resyncTimer || (this.#missed.size === 0 && this.#pendingRevokes.size === 0)) return;
    this.#resyncTimer = setTimeout(() => { this.#resyncTimer = undefined; void this.#sendResyncs(); }, RESYNC_RETRY_MS);
    this.#resyncTimer.unref();
  }

  async #sendResyncs(): Promise<void> {
    const revokes = [...this.#pendingRevokes];
    this.#pendingRevokes.clear();
    for (const [tokenHash, userId] of revokes) {
      const failed = await this.d.bus.publish('user', [userId], encodeBusFrame({ t: Date.now(), k: 'revoke', h: tokenHash }, '')).catch(() => [userId]);
      if (failed.length > 0) this.#pendingRevokes.set(tokenHash, userId);
    }
    const keys = [...this.#missed];
    this.#missed.clear();
    const t = Date.now();
    const users = keys.filter((k) => k.startsWith('user:')).map((k) => k.slice('user:'.length));
    if (users.length > 0) {
      const failed = await this.d.bus.publish('user', users, encodeBusFrame({ t, k: 'resync' }, events.resync('publish_failed'))).catch(() => users);
      for (const id of failed) this.#missed.add(`user:${id}`);
    }
    // A room's resync names the room: one without `room_id` means "sync your direct
    // messages", and a client given that for a missed room message never fetched it. All in
    // one turn, so the bus sends them as one batch (not one round trip per room).
    const rooms = keys.filter((k) => k.startsWith('room:')).map((k) => k.slice('room:'.length));
    const failedRooms = await Promise.all(rooms.map((room) =>
      this.d.bus.publish('room', [room], encodeBusFrame({ t, k: 'resync' }, events.resync('publish_failed', room))).catch(() => [room])));
    for (const id of failedRooms.flat()) this.#missed.add(`room:${id}`);
    this.#scheduleResyncs();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#resyncTimer);
  }

  // ---- receiving -------------------------------------------------------------------

  onBusMessage(kind: ChannelKind, id: string, frame: string): void {
    const decoded = decodeBusFrame(frame);
    if (!decoded) return;
    const { meta, event } = decoded;
    if (kind === 'user') this.#toUser(id, meta, event);
    else this.#toRoom(id, meta, event);
  }

  #toUser(userId: string, meta: BusMeta, event: string): void {
    const conns = this.d.registry.ofUser(userId);
    if (!conns) return;
    if (meta.k === 'resync') {
      for (const conn of conns) conn.send(event, 'control');
      return;
    }
    if (meta.k === 'revoke') {
      for (const conn of [...conns]) {
        if (conn.session?.tokenHash === meta.h) conn.close(CLOSE.SESSION_REVOKED, 'session revoked', 'revoked');
      }
      return;
    }
    const type = PUSHED[meta.k];
    for (const conn of conns) conn.send(event, type, meta.t);
  }

  #toRoom(roomId: string, meta: BusMeta, event: string): void {
    if (meta.k === 'revoke' || !this.d.registry.hasRoom(roomId)) return;
    if (meta.k === 'resync') {
      // At most one per socket and room per interval, as every room resync: each joiner answers
      // with a database read.
      const reason = resyncReason(event);
      for (const conn of this.d.registry.inRoom(roomId) ?? []) this.#tellRoomResync(conn, roomId, reason);
      return;
    }
    const type = PUSHED[meta.k];
    const backlog = this.#roomBacklog.get(roomId) ?? 0;
    if (backlog >= MAX_ROOM_BACKLOG) {
      // Delivery is stuck (block checks cannot be answered): no more frames wait in memory.
      // Each joiner is told once to fetch the room from PostgreSQL when it can.
      if (meta.k !== 'typing') {
        this.d.metrics.dropped.inc({ reason: 'room_backlog' });
        for (const conn of this.d.registry.inRoom(roomId) ?? []) this.#tellRoomResync(conn, roomId, 'room_backlog');
      }
      return;
    }
    this.#roomBacklog.set(roomId, backlog + 1);
    const prev = this.#roomQueues.get(roomId) ?? Promise.resolve();
    const next = prev.then(async () => {
      const conns = [...(this.d.registry.inRoom(roomId) ?? [])];
      const sender = meta.s;
      const verdicts = await Promise.all(conns.map(async (conn): Promise<'send' | 'skip' | 'resync'> => {
        const uid = conn.userId;
        if (!uid || !sender || uid === sender) return uid !== undefined && !(meta.k === 'typing' && uid === sender) ? 'send' : 'skip';
        const between = await this.#blockBetween(sender, uid);
        // A joiner whose block could not be checked misses the message: its client is told
        // to resync (sync filters blocks in SQL), or it would never know to ask. Typing is not worth it.
        return between === 'clear' ? 'send' : between === 'unknown' && meta.k !== 'typing' ? 'resync' : 'skip';
      }));
      conns.forEach((conn, i) => {
        // Left (or closed) while the block checks ran: it was answered `left`, and nothing of the room may follow.
        if (!conn.rooms.has(roomId)) return;
        if (verdicts[i] === 'send') conn.send(event, type, meta.t);
        else if (verdicts[i] === 'resync') {
          this.d.metrics.dropped.inc({ reason: 'relationship_unknown' });
          this.#tellRoomResync(conn, roomId, 'relationship_unknown');
        }
      });
    }).catch((err: unknown) => this.d.logger.warn({ err: err instanceof Error ? err.message : String(err), roomId }, 'realtime: room delivery failed'));
    this.#roomQueues.set(roomId, next);
    void next.then(() => {
      const left = (this.#roomBacklog.get(roomId) ?? 1) - 1;
      if (left > 0) this.#roomBacklog.set(roomId, left);
      else this.#roomBacklog.delete(roomId);
      if (this.#roomQueues.get(roomId) === next) this.#roomQueues.delete(roomId);
    });
  }

  /**
   * A `resync` naming the room, at most once per ROOM_RESYNC_EVERY_MS per socket and room: each
   * answers with a database read, and while relationships cannot be read every message of a
   * busy room would otherwise send one to every joiner. One missed within the window gets one
   * more at its end: the client may have synced already, before that message committed.
   */
  #tellRoomResync(conn: RealtimeConnection, roomId: string, reason: string): void {
    const now = Date.now();
    const last = conn.roomResyncAt.get(roomId);
    if (last !== undefined && now - last >= 0 && now - last < ROOM_RESYNC_EVERY_MS) {
      if (!conn.roomResyncDue.has(roomId)) {
        conn.roomResyncDue.add(roomId);
        setTimeout(() => {
          conn.roomResyncDue.delete(roomId);
          if (conn.closing || !conn.rooms.has(roomId)) return;
          conn.roomResyncAt.set(roomId, Date.now());
          conn.send(events.resync(reason, roomId), 'control');
        }, ROOM_RESYNC_EVERY_MS - (now - last)).unref();
      }
      return;
    }
    conn.roomResyncAt.set(roomId, now);
    conn.send(events.resync(reason, roomId), 'control');
  }
}

/** The reason a published resync frame carries (rare: parsed only for room resyncs). */
function resyncReason(event: string): string {
  try {
    const reason = (JSON.parse(event) as { reason?: unknown }).reason;
    return typeof reason === 'string' ? reason : 'publish_failed';
  } catch {
    return 'publish_failed';
  }
}
