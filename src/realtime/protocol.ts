import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * The /api/realtime wire protocol (README "Real-time", docs/ARCHITECTURE.md). JSON text
 * frames both ways; every frame is an object with a `type`.
 *
 * Close codes: the 1xxx ones are RFC 6455's, the 4xxx ones ours (the range RFC 6455
 * leaves to applications). A client reconnects after any of them except 4001/4003/4004
 * (log in again first); after 1013-like refusals it waits for Retry-After.
 */
export const CLOSE = {
  /** The client closed, or the server on its behalf. */
  NORMAL: 1000,
  /** The server is shutting down: reconnect (to another instance), then `sync`. */
  GOING_AWAY: 1001,
  /** A frame over 16 KiB (sent by `ws` itself). */
  MESSAGE_TOO_BIG: 1009,
  /** An unexpected server error. */
  INTERNAL: 1011,
  /** Not JSON, not an object, an unknown `type`, a field of the wrong shape, or a binary frame. */
  BAD_FRAME: 4000,
  /** No valid bearer token (first frame not `auth`, or the token unknown/expired/revoked). */
  UNAUTHENTICATED: 4001,
  /** No `auth` frame within the auth timeout. */
  AUTH_TIMEOUT: 4002,
  /** The session was revoked (logout) while connected. */
  SESSION_REVOKED: 4003,
  /** The session expired while connected. */
  SESSION_EXPIRED: 4004,
  /** Nothing from the client (no frame, no pong) within the idle timeout. */
  IDLE_TIMEOUT: 4005,
  /** The client read too slowly: its send buffer passed the bound. */
  SLOW_CONSUMER: 4006,
  /** Too many frames per second from the client. */
  RATE_LIMITED: 4007,
} as const;
export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** Largest client frame; every legal one is far smaller (ws closes bigger ones with 1009). */
export const MAX_FRAME_BYTES = 16 * 1024;
/** Rooms one socket may have joined at once. */
export const MAX_ROOMS_PER_SOCKET = 50;
export const SYNC_DEFAULT_LIMIT = 100;
export const SYNC_MAX_LIMIT = 500;

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const Uuid = Type.String({ pattern: UUID });
const RequestId = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));
const strict = { additionalProperties: false } as const;

const AuthFrame = Type.Object({ type: Type.Literal('auth'), token: Type.String({ minLength: 1, maxLength: 512 }) }, strict);
const JoinFrame = Type.Object({ type: Type.Literal('join'), room_id: Uuid, request_id: RequestId }, strict);
const LeaveFrame = Type.Object({ type: Type.Literal('leave'), room_id: Uuid, request_id: RequestId }, strict);
const TypingFrame = Type.Union([
  Type.Object({ type: Type.Literal('typing'), conversation_id: Uuid }, strict),
  Type.Object({ type: Type.Literal('typing'), room_id: Uuid }, strict),
]);
const SyncFrame = Type.Object({
  type: Type.Literal('sync'),
  /** A message id (UUIDv7) the client has: send what came after it (with a safety margin, see sync.ts). */
  since: Type.Optional(Uuid),
  /** `next_cursor` of the previous `sync` answer: the next page, exactly. */
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  /** The X-BGC-LSN of the newest write the client knows about (from an event or a REST response). */
  lsn: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$' })),
  /** A joined room's messages instead of the direct messages. */
  room_id: Type.Optional(Uuid),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SYNC_MAX_LIMIT })),
  request_id: RequestId,
}, strict);
const PingFrame = Type.Object({ type: Type.Literal('ping'), request_id: RequestId }, strict);

const ClientFrame = Type.Union([AuthFrame, JoinFrame, LeaveFrame, TypingFrame, SyncFrame, PingFrame]);
export type ClientFrame = Static<typeof ClientFrame>;
export type SyncRequest = Static<typeof SyncFrame>;

const checkFrame = TypeCompiler.Compile(ClientFrame);

/** A text frame as a client frame, or undefined when it is malformed in any way. */
export function parseClientFrame(text: string): ClientFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return checkFrame.Check(value) ? value : undefined;
}

/**
 * What instances publish to each other: `<meta JSON>\n<event JSON>` (src/cache/realtime-bus.ts).
 * `t` is the publish time (Unix ms, right after the write's commit), `k` what it is, `s` the
 * acting user (block checks, no typing echo), `h` a revoked session's token hash. A
 * `resync` frame tells the channel's sockets that an event for them could not be published.
 */
export type BusKind = 'message' | 'room_message' | 'read' | 'typing' | 'revoke' | 'resync';
export interface BusMeta {
  readonly t: number;
  readonly k: BusKind;
  readonly s?: string;
  readonly h?: string;
}

export function encodeBusFrame(meta: BusMeta, event: string): string {
  return `${JSON.stringify(meta)}\n${event}`;
}

export function decodeBusFrame(frame: string): { meta: BusMeta; event: string } | undefined {
  const nl = frame.indexOf('\n');
  if (nl < 0) return undefined;
  try {
    const meta = JSON.parse(frame.slice(0, nl)) as BusMeta;
    if (typeof meta !== 'object' || meta === null || typeof meta.t !== 'number' || typeof meta.k !== 'string') return undefined;
    return { meta, event: frame.slice(nl + 1) };
  } catch {
    return undefined;
  }
}

/** Server → client events; each is serialised once and written as is to every recipient. */
export const events = {
  ready: (e: { user_id: string; session_expires_at: string; heartbeat_ms: number; idle_timeout_ms: number; subscribed: boolean }) =>
    JSON.stringify({ type: 'ready', ...e, server_time: new Date().toISOString() }),
  message: (conversationId: string, message: object, lsn: string | undefined, ts: number) =>
    JSON.stringify({ type: 'message', conversation_id: conversationId, message, lsn: lsn ?? null, ts }),
  roomMessage: (roomId: string, message: object, lsn: string | undefined, ts: number) =>
    JSON.stringify({ type: 'room_message', room_id: roomId, message, lsn: lsn ?? null, ts }),
  read: (conversationId: string, userId: string, lastReadAt: string | null, lsn: string | undefined, ts: number) =>
    JSON.stringify({ type: 'read', conversation_id: conversationId, user_id: userId, last_read_at: lastReadAt, lsn: lsn ?? null, ts }),
  typing: (where: { conversation_id: string } | { room_id: string }, userId: string, ts: number) =>
    JSON.stringify({ type: 'typing', ...where, user_id: userId, ts }),
  joined: (roomId: string, requestId: string | undefined) => JSON.stringify({ type: 'joined', room_id: roomId, request_id: requestId ?? null }),
  left: (roomId: string, requestId: string | undefined) => JSON.stringify({ type: 'left', room_id: roomId, request_id: requestId ?? null }),
  sync: (e: { request_id: string | undefined; room_id: string | null; items: readonly object[]; next_cursor: string | null }) =>
    JSON.stringify({ type: 'sync', ...e, request_id: e.request_id ?? null }),
  /** `roomId`: what was missed is that room's (the client syncs it with `room_id`). */
  resync: (reason: string, roomId?: string) => JSON.stringify(roomId === undefined ? { type: 'resync', reason } : { type: 'resync', reason, room_id: roomId }),
  pong: (requestId: string | undefined) => JSON.stringify({ type: 'pong', request_id: requestId ?? null, server_time: new Date().toISOString() }),
  error: (code: string, message: string, requestId?: string) => JSON.stringify({ type: 'error', code, message, request_id: requestId ?? null }),
} as const;
