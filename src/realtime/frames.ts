import type { Logger } from '../logging/logger.ts';
import type { RealtimeMetrics } from '../metrics/realtime.metrics.ts';
import type { RealtimeRepository } from '../repositories/realtime.repository.ts';
import type { RealtimeConnection } from './connection.ts';
import type { Delivery } from './delivery.ts';
import { events, MAX_ROOMS_PER_SOCKET, type ClientFrame } from './protocol.ts';
import type { ConnectionRegistry } from './registry.ts';
import type { Subscriptions } from './subscriptions.ts';
import { SyncError, type SyncReader } from './sync.ts';
import { TokenBucket } from './token-bucket.ts';

interface FrameDeps {
  readonly registry: ConnectionRegistry;
  readonly subscriptions: Subscriptions;
  readonly delivery: Delivery;
  readonly repo: RealtimeRepository;
  readonly sync: SyncReader;
  readonly metrics: RealtimeMetrics;
  readonly logger: Logger;
  readonly typing: { readonly perSecond: number; readonly burst: number };
}

type Framed<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;

/**
 * What an authenticated socket may ask: join/leave rooms, typing indicators, `sync`
 * (catch-up from PostgreSQL), ping. A request that is well-formed but not allowed (an
 * unknown room, a conversation the user is not in) gets an `error` event and the socket
 * stays open; only malformed frames close it (4000, in the hub).
 */
export class FrameHandler {
  /** Typing indicators per user on this instance (a user's sockets share one bucket). */
  readonly #typing = new Map<string, TokenBucket>();

  constructor(private readonly d: FrameDeps) {}

  async handle(conn: RealtimeConnection, frame: ClientFrame): Promise<void> {
    const userId = conn.userId;
    if (!userId || conn.closing) return;
    switch (frame.type) {
      case 'auth': conn.send(events.error('ALREADY_AUTHENTICATED', 'This socket is already authenticated'), 'control'); return;
      case 'ping': conn.send(events.pong(frame.request_id), 'control'); return;
      case 'join': await this.#join(conn, frame); return;
      case 'leave': this.#leave(conn, frame); return;
      case 'typing': await this.#typingFrame(conn, userId, frame); return;
      case 'sync': await this.#sync(conn, userId, frame); return;
    }
  }

  /** The user's last socket here closed. */
  forgetUser(userId: string): void { this.#typing.delete(userId); }

  async #join(conn: RealtimeConnection, f: Framed<'join'>): Promise<void> {
    const roomId = f.room_id.toLowerCase();
    if (!conn.rooms.has(roomId)) {
      if (conn.rooms.size >= MAX_ROOMS_PER_SOCKET) {
        conn.send(events.error('TOO_MANY_ROOMS', `A socket may join at most ${MAX_ROOMS_PER_SOCKET} rooms`, f.request_id), 'control');
        return;
      }
      const active = await this.#guard(conn, f.request_id, () => this.d.repo.roomActive(roomId, { userId: conn.userId }));
      if (!active) return;
      if (!active.value) {
        conn.send(events.error('NOT_FOUND', 'No such room', f.request_id), 'control');
        return;
      }
      if (conn.closing) return;
      this.d.registry.join(conn, roomId);
      if (!(await this.d.subscriptions.ensure('room', roomId))) this.#resyncWhenLive(conn, roomId);
    }
    conn.send(events.joined(roomId, f.request_id), 'control');
  }

  /**
   * The room's SUBSCRIBE was not confirmed within the wait (Redis slow or away): its messages
   * until then were not received here. Once it is live, the socket is told to resync the room
   * (if the SUBSCRIBE failed, the subscriber's return tells every joined room instead).
   */
  #resyncWhenLive(conn: RealtimeConnection, roomId: string): void {
    void this.d.subscriptions.confirmation('room', roomId)?.then((live) => {
      if (live && !conn.closing && conn.rooms.has(roomId)) conn.send(events.resync('subscribed_late', roomId), 'control');
    });
  }

  #leave(conn: RealtimeConnection, f: Framed<'leave'>): void {
    const roomId = f.room_id.toLowerCase();
    if (this.d.registry.leave(conn, roomId)) this.d.subscriptions.drop('room', roomId);
    conn.send(events.left(roomId, f.request_id), 'control');
  }

  async #typingFrame(conn: RealtimeConnection, userId: string, f: Framed<'typing'>): Promise<void> {
    let bucket = this.#typing.get(userId);
    if (!bucket) {
      bucket = new TokenBucket(this.d.typing.perSecond, this.d.typing.burst);
      this.#typing.set(userId, bucket);
    }
    // Ephemeral: over the rate, indicators are dropped quietly (the next one will do).
    if (!bucket.take()) {
      this.d.metrics.dropped.inc({ reason: 'typing_rate' });
      return;
    }
    if ('room_id' in f) {
      const roomId = f.room_id.toLowerCase();
      if (!conn.rooms.has(roomId)) conn.send(events.error('NOT_JOINED', 'Join the room before typing in it'), 'control');
      else this.d.delivery.typingInRoom(userId, roomId);
      return;
    }
    const conversationId = f.conversation_id.toLowerCase();
    let peer = conn.peers.get(conversationId);
    if (!peer) {
      const found = await this.#guard(conn, undefined, () => this.d.repo.conversationPeer(conversationId, userId, { userId }));
      if (!found) return;
      peer = found.value;
      if (!peer) {
        conn.send(events.error('FORBIDDEN', 'You are not a member of this conversation'), 'control');
        return;
      }
      conn.rememberPeer(conversationId, peer);
    }
    // A blocked pair learns nothing of each other, not even that the indicator was dropped.
    if (!(await this.d.delivery.blocked(userId, peer))) this.d.delivery.typingInConversation(userId, conversationId, peer);
  }

  async #sync(conn: RealtimeConnection, userId: string, f: Framed<'sync'>): Promise<void> {
    try {
      const page = await this.d.sync.page(userId, f);
      conn.send(page, 'control');
    } catch (err) {
      if (err instanceof SyncError) conn.send(events.error(err.code, err.message, f.request_id), 'control');
      else this.#unavailable(conn, err, f.request_id);
    }
  }

  /** Runs a database read for a frame; on failure tells the client to retry and yields undefined. */
  async #guard<T>(conn: RealtimeConnection, requestId: string | undefined, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    try {
      return { value: await fn() };
    } catch (err) {
      this.#unavailable(conn, err, requestId);
      return undefined;
    }
  }

  #unavailable(conn: RealtimeConnection, err: unknown, requestId: string | undefined): void {
    this.d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'realtime: frame failed');
    conn.send(events.error('UNAVAILABLE', 'The database could not answer; retry shortly', requestId), 'control');
  }
}
