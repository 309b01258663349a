import type { RawData, WebSocket } from 'ws';
import { tokenHashHex } from '../auth/tokens.ts';
import type { RealtimeBus } from '../cache/realtime-bus.ts';
import type { PresenceStore } from '../cache/presence-store.ts';
import type { Logger } from '../logging/logger.ts';
import type { RealtimeMetrics } from '../metrics/realtime.metrics.ts';
import type { RealtimeRepository } from '../repositories/realtime.repository.ts';
import type { ProfileReader, SessionInfo, SessionResolver, RelationshipReader, WriteHooks } from '../services/index.ts';
import { RealtimeConnection, type ConnectionLimits } from './connection.ts';
import { Delivery } from './delivery.ts';
import { FrameHandler } from './frames.ts';
import { CLOSE, events, parseClientFrame } from './protocol.ts';
import { ConnectionRegistry } from './registry.ts';
import { Subscriptions } from './subscriptions.ts';
import { SyncReader } from './sync.ts';
import type { Config } from '../config/index.ts';

/** config.realtime (src/config), named once there. */
export type RealtimeSettings = Config['realtime'];

export interface RealtimeHubDeps {
  readonly settings: RealtimeSettings;
  /** The cached session lookup every request uses (expiry checked). */
  readonly authenticate: (token: string) => Promise<SessionInfo | null>;
  /** The uncached one, straight from PostgreSQL: used when a session was just invalidated. */
  readonly sessionStore: SessionResolver;
  readonly relationships: RelationshipReader;
  /** The cached profile read: messages are pushed only from active (not suspended) accounts. */
  readonly profiles: ProfileReader;
  readonly repo: RealtimeRepository;
  readonly bus: RealtimeBus;
  readonly presence: PresenceStore;
  readonly metrics: RealtimeMetrics;
  readonly logger: Logger;
}

/** How long a new socket's user (room) subscription may take before `ready` is sent anyway. */
const SUBSCRIBE_WAIT_MS = 2_000;
/** Sessions are re-checked this often (±50%), so one revoked by a path we did not hear still ends. */
const REVALIDATE_MS = 5 * 60_000;
/**
 * A heartbeat sweep handles this many sockets per slice, and spaces the slices out (at most
 * SWEEP_SPACING_MS apart, all within half a heartbeat): 10,000 pings back to back hold the
 * event loop for tens of ms, which the admission control (src/http/admission) would read
 * as a standing queue and answer by refusing API requests.
 */
const SWEEP_SLICE = 200;
const SWEEP_SPACING_MS = 50;
/** A resync after a Redis blip: this many sockets at a time, this far apart (5,000 a second). */
export const RESYNC_SLICE = 250;
export const RESYNC_SPACING_MS = 50;
/** Re-checking every session after a session-cache flush: this many sockets at a time, this far apart (2,000 a second). */
export const RECHECK_SLICE = 100;
export const RECHECK_SPACING_MS = 50;
const FRAME_LIMITS = { framesPerSecond: 20, framesBurst: 40, maxQueuedFrames: 32 } as const;
const TYPING_BURST = 3;

/**
 * The real-time layer of one instance: accepts sockets, authenticates them (bearer header
 * at upgrade, or a first `auth` frame), subscribes their users' channels, turns
 * after-commit hooks into published events, closes sockets of revoked sessions, and runs
 * the heartbeat sweep (pings, idle timeout, expiry, presence renewal).
 */
export class RealtimeHub {
  readonly registry = new ConnectionRegistry();
  readonly delivery: Delivery;
  readonly #frames: FrameHandler;
  readonly #subs: Subscriptions;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  #sweepTimer: NodeJS.Timeout | undefined;
  #lastSweepAt = Date.now();
  #closed = false;
  /** Upgrades holding a place while their header is checked (reserveUpgrade). */
  #authenticating = 0;
  /** sessionsFlushed(): no pass, a pass, or a pass with another one asked for. */
  #recheck: 'idle' | 'running' | 'again' = 'idle';
  /** Set by closeAll (the drain): a socket upgraded after it is closed at once, not kept. */
  #closing = false;

  constructor(private readonly d: RealtimeHubDeps) {
    this.#log = d.logger.child({ component: 'realtime' });
    this.#limits = { maxBufferedBytes: d.settings.maxBufferedBytes, ...FRAME_LIMITS };
    this.#subs = new Subscriptions(d.bus, SUBSCRIBE_WAIT_MS);
    this.delivery = new Delivery({ registry: this.registry, bus: d.bus, metrics: d.metrics, relationships: d.relationships, profiles: d.profiles, repo: d.repo, logger: this.#log });
    this.#frames = new FrameHandler({
      registry: this.registry, subscriptions: this.#subs, delivery: this.delivery, repo: d.repo, sync: new SyncReader(d.repo, Math.floor(d.settings.maxBufferedBytes / 2)),
      metrics: d.metrics, logger: this.#log, typing: { perSecond: d.settings.typingPerSecond, burst: TYPING_BURST },
    });
    d.bus.onMessage((kind, id, frame) => this.delivery.onBusMessage(kind, id, frame));
    // Whatever was published while the subscriber was away is lost: clients catch up from PostgreSQL.
    d.bus.onResubscribed((downMs) => {
      this.#subs.retryFailed();
      this.#log.warn({ downMs, sockets: this.registry.authenticated }, 'realtime subscriber back; telling clients to resync');
      this.#resyncAll('redis_reconnected');
    });
  }

  /** Subscribes to the services' after-commit hooks. Listeners never throw and never wait on Redis. */
  attach(hooks: WriteHooks): void {
    hooks.onDirectMessage((w, lsn) => this.delivery.directMessage(w, lsn));
    // A keyed retry's answer: the attempt that wrote the message may not have announced it (its
    // commit's answer was lost). Its members (joiners) are told to resync, not sent the body.
    hooks.onDirectMessageReplayed((w) => this.delivery.directMessageReplayed(w.senderId, w.recipientId, w.message));
    hooks.onRoomMessage((w, lsn) => (w.replayed ? this.delivery.roomMessageReplayed(w.message.room_id, w.message) : this.delivery.roomMessage(w, lsn)));
    hooks.onConversationRead((w, lsn) => {
      this.delivery.conversationRead(w, lsn).catch((err: unknown) => this.#log.warn({ err: errText(err) }, 'realtime: read receipt not sent'));
    });
    hooks.onSessionRevoked((tokenHash, userId) => {
      this.#closeSession(tokenHash);
      this.delivery.revoke(userId, tokenHash);
    });
  }

  start(): void {
    this.#lastSweepAt = Date.now();
    this.#sweepTimer = setInterval(() => this.#sweep(), this.d.settings.heartbeatMs);
    this.#sweepTimer.unref();
  }

  /** Room for one more socket on this instance (sockets held, and upgrades still authenticating). */
  get hasCapacity(): boolean { return this.registry.size + this.#authenticating < this.d.settings.maxConnections; }

  /**
   * Holds a place for an upgrade while its Authorization header is checked (an await): without
   * it, a reconnect storm's upgrades all passed the limit check before any of them was counted.
   * False when there is no room. Release with `releaseUpgrade` once the check is done.
   */
  reserveUpgrade(): boolean {
    if (!this.hasCapacity) return false;
    this.#authenticating++;
    return true;
  }

  releaseUpgrade(): void { this.#authenticating = Math.max(0, this.#authenticating - 1); }

  /**
   * A socket just upgraded. Handlers are attached before any await (a frame arriving
   * meanwhile would otherwise be lost). `pre` is the session from the Authorization header.
   */
  accept(socket: WebSocket, pre: { info: SessionInfo; token: string } | undefined): void {
    const conn = new RealtimeConnection(socket, this.#limits, this.d.metrics, (c) => this.#log.debug({ userId: c.userId }, 'slow consumer dropped'));
    this.registry.add(conn);
    socket.on('close', () => this.#onClosed(conn));
    if (this.#closing) {
      // Its upgrade was still authenticating when the drain closed every socket: nothing
      // else would close it, and the server's close would wait for it until the force exit.
      conn.close(CLOSE.GOING_AWAY, 'server shutting down', 'shutdown');
      return;
    }
    socket.on('message', (data: RawData, isBinary: boolean) => this.#onFrame(conn, data, isBinary));
    socket.on('pong', () => conn.touch());
    if (pre) {
      conn.run(() => this.#admit(conn, pre.info, pre.token));
      return;
    }
    conn.authTimer = setTimeout(() => {
      this.d.metrics.connections.inc({ result: 'unauthenticated' });
      conn.close(CLOSE.AUTH_TIMEOUT, 'send {"type":"auth","token":"…"} first', 'auth_timeout');
    }, this.d.settings.authTimeoutMs);
  }

  #onFrame(conn: RealtimeConnection, data: RawData, isBinary: boolean): void {
    conn.touch();
    if (conn.closing) return;
    if (!conn.admitFrame()) {
      conn.close(CLOSE.RATE_LIMITED, 'too many frames', 'rate_limited');
      return;
    }
    const frame = isBinary ? undefined : parseClientFrame(rawText(data));
    if (!frame) {
      conn.close(CLOSE.BAD_FRAME, 'malformed frame', 'bad_frame');
      return;
    }
    if (conn.session || conn.authTimer === undefined) {
      conn.run(() => this.#frames.handle(conn, frame));
      return;
    }
    // Not yet authenticated: the first frame must be `auth`.
    clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    if (frame.type !== 'auth') {
      this.d.metrics.connections.inc({ result: 'unauthenticated' });
      conn.close(CLOSE.UNAUTHENTICATED, 'the first frame must be {"type":"auth","token":"…"}', 'unauthenticated');
      return;
    }
    conn.run(async () => {
      let info: SessionInfo | null;
      try {
        info = await this.d.authenticate(frame.token);
      } catch (err) {
        this.#log.warn({ err: errText(err) }, 'realtime: session lookup failed');
        conn.close(CLOSE.INTERNAL, 'session lookup failed; retry', 'error');
        return;
      }
      if (!info) {
        this.d.metrics.connections.inc({ result: 'unauthenticated' });
        conn.close(CLOSE.UNAUTHENTICATED, 'the token is invalid, expired or revoked', 'unauthenticated');
        return;
      }
      await this.#admit(conn, info, frame.token);
    });
  }

  async #admit(conn: RealtimeConnection, info: SessionInfo, token: string): Promise<void> {
    if (conn.closing) return;
    conn.session = {
      userId: info.userId, sessionId: info.sessionId, tokenHash: tokenHashHex(token), token, expiresAtMs: Date.parse(info.expiresAt),
    };
    conn.nextRevalidateAt = Date.now() + REVALIDATE_MS * (0.5 + Math.random());
    const first = this.registry.indexSession(conn);
    this.d.metrics.connections.inc({ result: 'accepted' });
    this.d.metrics.sockets.set(this.registry.authenticated);
    if (first) void this.d.presence.claim([info.userId], this.#presenceTtlMs);
    const subscribed = await this.#subs.ensure('user', info.userId);
    // A logout that committed between the lookup that admitted this socket and its indexing
    // found no socket to close (neither the bus's revoke nor the NOTIFY path): look once more,
    // now that both would reach it. A lookup that fails leaves it to the periodic re-check.
    const still = await this.d.authenticate(token).catch(() => info);
    if (!still) {
      conn.close(CLOSE.SESSION_REVOKED, 'session revoked', 'revoked');
      return;
    }
    conn.send(events.ready({
      user_id: info.userId, session_expires_at: info.expiresAt, heartbeat_ms: this.d.settings.heartbeatMs,
      idle_timeout_ms: this.d.settings.idleTimeoutMs, subscribed,
    }), 'control');
    // Not live within the wait (`ready` said so): once it is, after `ready`, the socket is told
    // to resync. If the SUBSCRIBE failed instead, the subscriber's return tells every socket.
    if (!subscribed) {
      void this.#subs.confirmation('user', info.userId)?.then((live) => {
        if (live && !conn.closing) conn.send(events.resync('subscribed_late'), 'control');
      });
    }
  }

  #onClosed(conn: RealtimeConnection): void {
    conn.closedByPeer();
    const userId = conn.userId;
    const { lastOfUser, emptiedRooms } = this.registry.remove(conn);
    if (userId) this.d.metrics.sockets.set(this.registry.authenticated);
    for (const room of emptiedRooms) this.#subs.drop('room', room);
    if (userId && lastOfUser) {
      this.#subs.drop('user', userId);
      this.#frames.forgetUser(userId);
      void this.d.presence.release(userId);
    }
  }

  /** Session cache keys dropped anywhere (logout, a psql UPDATE, a deactivation): re-check those sockets' sessions now. */
  sessionKeysInvalidated(tokenHashes: readonly string[]): void {
    for (const hash of tokenHashes) {
      for (const conn of this.registry.ofToken(hash) ?? []) void this.#revalidate(conn, true);
    }
  }

  /**
   * The session cache was flushed without naming keys (CacheLayer.onFlushed): every socket's
   * session is re-checked in the database, RECHECK_SLICE at a time RECHECK_SPACING_MS apart,
   * so 10,000 sockets cost 10,000 primary-key reads over five seconds, not a burst past the
   * pool's acquire timeout. A flush during a pass starts another pass after it.
   */
  sessionsFlushed(): void {
    if (this.#recheck === 'running' || this.#recheck === 'again') { this.#recheck = 'again'; return; }
    this.#recheck = 'running';
    const conns = [...this.registry.all];
    const slice = (from: number): void => {
      if (this.#closed) return;
      for (const conn of conns.slice(from, from + RECHECK_SLICE)) void this.#revalidate(conn, true);
      if (from + RECHECK_SLICE < conns.length) { setTimeout(() => slice(from + RECHECK_SLICE), RECHECK_SPACING_MS).unref(); return; }
      const again = this.#recheck === 'again';
      this.#recheck = 'idle';
      if (again) this.sessionsFlushed();
    };
    slice(0);
  }

  #closeSession(tokenHash: string): void {
    for (const conn of [...(this.registry.ofToken(tokenHash) ?? [])]) conn.close(CLOSE.SESSION_REVOKED, 'session revoked', 'revoked');
  }

  async #revalidate(conn: RealtimeConnection, fromStore: boolean): Promise<void> {
    const s = conn.session;
    if (!s || conn.closing) return;
    conn.nextRevalidateAt = Date.now() + REVALIDATE_MS * (0.5 + Math.random());
    try {
      const info = fromStore ? await this.d.sessionStore.resolve(s.token) : await this.d.authenticate(s.token);
      const live = info !== null && info.sessionId === s.sessionId && Date.parse(info.expiresAt) > Date.now();
      if (!live) conn.close(CLOSE.SESSION_REVOKED, 'session revoked', 'revoked');
    } catch (err) {
      // Unknown is not revoked: try again at the next sweep.
      conn.nextRevalidateAt = 0;
      this.#log.debug({ err: errText(err) }, 'realtime: session re-check failed');
    }
  }

  get #presenceTtlMs(): number { return this.d.settings.heartbeatMs * 2 + 5_000; }

  /**
   * Every heartbeat: idle and expired sockets close, the rest get a ping; presence claims
   * are renewed. Two guards keep a stall of this process (GC, CPU starvation) from being
   * taken for 10,000 idle clients: the first slice runs from setImmediate, after the poll
   * phase has read the pongs that queued up meanwhile (later ones from timers, each after
   * a poll phase too); and a sweep that fires far behind its schedule only pings, because
   * the clients' silence was then ours.
   */
  #sweep(): void {
    const conns = [...this.registry.all];
    const due = this.#lastSweepAt + this.d.settings.heartbeatMs;
    this.#lastSweepAt = Date.now();
    const stalled = this.#lastSweepAt - due > this.d.settings.heartbeatMs;
    if (stalled) this.#log.warn({ lateMs: this.#lastSweepAt - due }, 'realtime heartbeat ran late; no idle closes this round');
    const slice = (from: number): void => {
      const now = Date.now();
      for (const conn of conns.slice(from, from + SWEEP_SLICE)) {
        const s = conn.session;
        if (!s || conn.closing) continue;
        if (!stalled && now - conn.lastSeenAt > this.d.settings.idleTimeoutMs) conn.close(CLOSE.IDLE_TIMEOUT, 'idle timeout', 'idle');
        else if (s.expiresAtMs <= now) conn.close(CLOSE.SESSION_EXPIRED, 'session expired', 'expired');
        else {
          try { conn.socket.ping(); } catch { /* closing underneath us: 'close' cleans up */ }
          if (now >= conn.nextRevalidateAt) void this.#revalidate(conn, false);
        }
      }
      if (from + SWEEP_SLICE < conns.length) setTimeout(() => slice(from + SWEEP_SLICE), spacing).unref();
      else void this.d.presence.claim([...this.registry.users], this.#presenceTtlMs, (u) => this.registry.ofUser(u) !== undefined);
    };
    const slices = Math.ceil(conns.length / SWEEP_SLICE);
    const spacing = Math.min(SWEEP_SPACING_MS, Math.floor(this.d.settings.heartbeatMs / 2 / Math.max(1, slices)));
    setImmediate(() => slice(0));
  }

  /**
   * Tells every authenticated socket to `resync`, RESYNC_SLICE at a time RESYNC_SPACING_MS
   * apart (5,000 a second): each answers with a `sync`, a database read, and 10,000 at once
   * after a Redis blip queued past the pool's acquire timeout on every instance together.
   */
  #resyncAll(reason: string): void {
    const conns = [...this.registry.all];
    const frame = events.resync(reason);
    // A slice is RESYNC_SLICE frames, not sockets: each joined room gets a resync of its own
    // (and each answers with a sync), so a socket in 50 rooms counts 51.
    const slice = (from: number): void => {
      if (this.#closed) return;
      let frames = 0;
      let i = from;
      for (; i < conns.length && frames < RESYNC_SLICE; i++) {
        const conn = conns[i] as RealtimeConnection;
        if (!conn.session || conn.closing) continue;
        conn.send(frame, 'control');
        // Room messages published meanwhile were lost too, and a resync without `room_id` is
        // only about direct messages: each joined room is named.
        for (const room of conn.rooms) conn.send(events.resync(reason, room), 'control');
        frames += 1 + conn.rooms.size;
      }
      if (i < conns.length) setTimeout(() => slice(i), RESYNC_SPACING_MS).unref();
    };
    slice(0);
  }

  /** Closes every socket (1001: reconnect elsewhere, then sync). */
  closeAll(): void {
    this.#closing = true;
    for (const conn of [...this.registry.all]) conn.close(CLOSE.GOING_AWAY, 'server shutting down', 'shutdown');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.delivery.stop();
    this.closeAll();
    await this.d.bus.close();
  }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
