import type { WebSocket } from 'ws';
import type { DisconnectReason, PushedType, RealtimeMetrics } from '../metrics/realtime.metrics.ts';
import { CLOSE, type CloseCode } from './protocol.ts';
import { TokenBucket } from './token-bucket.ts';

/** Who a socket belongs to once authenticated. The token stays in memory only (re-validation). */
export interface SocketSession {
  readonly userId: string;
  readonly sessionId: string;
  /** Hex sha256 of the token: what revocations name. */
  readonly tokenHash: string;
  readonly token: string;
  readonly expiresAtMs: number;
}

export interface ConnectionLimits {
  readonly maxBufferedBytes: number;
  readonly framesPerSecond: number;
  readonly framesBurst: number;
  /** Frames waiting for the ones before them (a sync in progress) before the socket counts as flooding. */
  readonly maxQueuedFrames: number;
}

/** After a close frame, how long a peer that does not answer (a slow consumer, a dead link) keeps its socket. */
const TERMINATE_AFTER_MS = 2_000;
/** Conversation → other member, remembered for typing indicators. */
const MAX_PEERS = 256;

let nextId = 1;

/**
 * One WebSocket on this instance. Writes are bounded: an event that would take the
 * socket's send buffer (ws `bufferedAmount`: bytes queued in user space, not yet taken
 * by the kernel) past `maxBufferedBytes` is not written, and the socket is closed with
 * 4006 SLOW_CONSUMER, so a client that stops reading costs at most that much memory.
 * Frames from the client are handled one after another (`run`), in arrival order.
 */
export class RealtimeConnection {
  readonly id = nextId++;
  session: SocketSession | undefined;
  readonly rooms = new Set<string>();
  readonly peers = new Map<string, string>();
  /** Last sign of life (a frame or a pong), for the idle timeout. */
  lastSeenAt = Date.now();
  /** When the session is next re-checked against the session store. */
  nextRevalidateAt = 0;
  /** When this socket was last told to resync a room whose delivery could not check a block (Delivery). */
  readonly roomResyncAt = new Map<string, number>();
  /** Rooms whose next resync is waiting for the end of that interval. */
  readonly roomResyncDue = new Set<string>();
  authTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  readonly #frames: TokenBucket;

  constructor(
    readonly socket: WebSocket,
    private readonly limits: ConnectionLimits,
    private readonly metrics: RealtimeMetrics,
    private readonly onSlow: (conn: RealtimeConnection) => void,
  ) {
    this.#frames = new TokenBucket(limits.framesPerSecond, limits.framesBurst);
  }

  get closing(): boolean { return this.#closing; }
  get userId(): string | undefined { return this.session?.userId; }

  touch(): void { this.lastSeenAt = Date.now(); }

  /** Writes one serialised event; false when it was not written (counted as a drop). */
  send(text: string, type: PushedType, publishedAt?: number): boolean {
    if (this.#closing || this.socket.readyState !== this.socket.OPEN) {
      this.metrics.dropped.inc({ reason: 'not_open' });
      return false;
    }
    if (this.socket.bufferedAmount + Buffer.byteLength(text) > this.limits.maxBufferedBytes) {
      this.metrics.dropped.inc({ reason: 'slow_consumer' });
      this.onSlow(this);
      this.close(CLOSE.SLOW_CONSUMER, 'send buffer full: read faster', 'slow_consumer');
      return false;
    }
    this.socket.send(text);
    this.metrics.pushed.inc({ type });
    if (publishedAt !== undefined) this.metrics.delivery.observe(Math.max(0, Date.now() - publishedAt) / 1000);
    return true;
  }

  /** Admits one client frame to the queue, or says the client is flooding. */
  admitFrame(): boolean {
    return this.#frames.take() && this.#queued < this.limits.maxQueuedFrames;
  }

  /** Runs `fn` after every frame before it has been handled. */
  run(fn: () => Promise<void>): void {
    this.#queued++;
    this.#queue = this.#queue.then(fn).finally(() => { this.#queued--; });
  }

  /**
   * Sends a close frame (queued behind whatever is still buffered) and terminates the
   * socket if the close handshake has not finished shortly after. Idempotent.
   */
  close(code: CloseCode, reason: string, why: DisconnectReason): void {
    if (this.#closing) return;
    this.#closing = true;
    this.metrics.disconnects.inc({ reason: why });
    clearTimeout(this.authTimer);
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
      return;
    }
    const timer = setTimeout(() => this.socket.terminate(), TERMINATE_AFTER_MS);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  /** The socket closed without us closing it first (the client, or the network). */
  closedByPeer(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.authTimer);
    this.metrics.disconnects.inc({ reason: 'client' });
  }

  rememberPeer(conversationId: string, peerId: string): void {
    if (this.peers.size >= MAX_PEERS) {
      const oldest = this.peers.keys().next().value;
      if (oldest !== undefined) this.peers.delete(oldest);
    }
    this.peers.set(conversationId, peerId);
  }
}
