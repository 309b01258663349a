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

export class WriteHooks {
  readonly #profile: ProfileChangedListener[] = [];
  readonly #session: SessionRevokedListener[] = [];
  readonly #relationship: RelationshipChangedListener[] = [];

  onProfileChanged(fn: ProfileChangedListener): void { this.#profile.push(fn); }
  onSessionRevoked(fn: SessionRevokedListener): void { this.#session.push(fn); }
  onRelationshipChanged(fn: RelationshipChangedListener): void { this.#relationship.push(fn); }

  async profileChanged(userId: string, lsn: string | undefined): Promise<void> {
    for (const fn of this.#profile) await fn(userId, lsn);
  }

  async sessionRevoked(tokenHash: string, userId: string): Promise<void> {
    for (const fn of this.#session) await fn(tokenHash, userId);
  }

  async relationshipChanged(userId: string, otherUserId: string, lsn: string | undefined): Promise<void> {
    for (const fn of this.#relationship) await fn(userId, otherUserId, lsn);
  }
}
