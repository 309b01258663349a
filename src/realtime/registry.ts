import type { RealtimeConnection } from './connection.ts';

/**
 * This instance's sockets, indexed the three ways delivery needs: by user (events on the
 * user's channel), by session token hash (revocation) and by joined room. It only keeps
 * the indexes and says when a user or a room gains its first or loses its last local
 * socket; the hub subscribes and unsubscribes the Redis channels accordingly.
 */
export class ConnectionRegistry {
  readonly #all = new Set<RealtimeConnection>();
  readonly #byUser = new Map<string, Set<RealtimeConnection>>();
  readonly #byToken = new Map<string, Set<RealtimeConnection>>();
  readonly #byRoom = new Map<string, Set<RealtimeConnection>>();
  #authenticated = 0;

  /** Every open socket, authenticated or not (the per-instance limit counts these). */
  get size(): number { return this.#all.size; }
  get authenticated(): number { return this.#authenticated; }
  get users(): IterableIterator<string> { return this.#byUser.keys(); }
  get all(): ReadonlySet<RealtimeConnection> { return this.#all; }

  add(conn: RealtimeConnection): void { this.#all.add(conn); }

  /** The socket's session is set: index it. True when it is the user's first socket here. */
  indexSession(conn: RealtimeConnection): boolean {
    const s = conn.session;
    if (!s || !this.#all.has(conn)) return false;
    this.#authenticated++;
    add(this.#byToken, s.tokenHash, conn);
    return add(this.#byUser, s.userId, conn);
  }

  /** Forgets the socket. Says whether it was its user's last socket here, and which rooms lost their last one. */
  remove(conn: RealtimeConnection): { lastOfUser: boolean; emptiedRooms: string[] } {
    if (!this.#all.delete(conn)) return { lastOfUser: false, emptiedRooms: [] };
    const emptiedRooms = [...conn.rooms].filter((room) => drop(this.#byRoom, room, conn));
    conn.rooms.clear();
    const s = conn.session;
    if (!s) return { lastOfUser: false, emptiedRooms };
    this.#authenticated--;
    drop(this.#byToken, s.tokenHash, conn);
    return { lastOfUser: drop(this.#byUser, s.userId, conn), emptiedRooms };
  }

  /** True when the room had no local socket before. */
  join(conn: RealtimeConnection, roomId: string): boolean {
    conn.rooms.add(roomId);
    return add(this.#byRoom, roomId, conn);
  }

  /** True when the room has no local socket left. */
  leave(conn: RealtimeConnection, roomId: string): boolean {
    if (!conn.rooms.delete(roomId)) return false;
    return drop(this.#byRoom, roomId, conn);
  }

  ofUser(userId: string): ReadonlySet<RealtimeConnection> | undefined { return this.#byUser.get(userId); }
  ofToken(tokenHash: string): ReadonlySet<RealtimeConnection> | undefined { return this.#byToken.get(tokenHash); }
  inRoom(roomId: string): ReadonlySet<RealtimeConnection> | undefined { return this.#byRoom.get(roomId); }
  hasRoom(roomId: string): boolean { return this.#byRoom.has(roomId); }
}

function add(index: Map<string, Set<RealtimeConnection>>, key: string, conn: RealtimeConnection): boolean {
  let set = index.get(key);
  const first = set === undefined;
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(conn);
  return first;
}

function drop(index: Map<string, Set<RealtimeConnection>>, key: string, conn: RealtimeConnection): boolean {
  const set = index.get(key);
  if (!set || !set.delete(conn)) return false;
  if (set.size > 0) return false;
  index.delete(key);
  return true;
}
