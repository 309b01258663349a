import type { QueryContext } from '../../db/database.ts';
import type { SocialRepository } from '../../repositories/social.repository.ts';

/** One relationship row between the viewer and another user, seen from the viewer. */
export interface RelationshipEdge {
  /** true: viewer → other; false: other → viewer. */
  readonly outgoing: boolean;
  readonly kind: 'friend' | 'favorite' | 'block';
  readonly status: 'pending' | 'accepted';
}

/**
 * The viewer-dependent half of a profile read: the (at most six) relationship rows
 * between two users. Separate from ProfileReader so a cached profile stays viewer
 * independent. The cache layer wraps it (ServiceDeps.wrapReaders.relationship): it
 * answers from the viewer's cached relationship set (src/cache/relationship-sets.ts),
 * invalidated through WriteHooks.onRelationshipChanged and migrations/0008, so a cached
 * profile read needs no database round trip. The service runs it concurrently with the
 * profile read, so a miss on both still costs one round trip of latency.
 */
export interface RelationshipReader {
  getRelationship(viewerId: string, otherUserId: string, ctx: QueryContext): Promise<RelationshipEdge[]>;
}

export class DbRelationshipReader implements RelationshipReader {
  constructor(private readonly social: SocialRepository) {}

  async getRelationship(viewerId: string, otherUserId: string, ctx: QueryContext): Promise<RelationshipEdge[]> {
    const rows = await this.social.between(viewerId, otherUserId, ctx);
    return rows.map((r) => ({ outgoing: r.outgoing, kind: r.kind, status: r.status }));
  }
}

export type FriendStatus = 'none' | 'pending_outgoing' | 'pending_incoming' | 'friends';

export interface RelationshipStatus {
  readonly is_self: boolean;
  readonly friend_status: FriendStatus;
  /** The viewer favourited this user. */
  readonly is_favorite: boolean;
  /** The viewer blocked this user. */
  readonly is_blocked: boolean;
  /** This user blocked the viewer (the service hides the profile then). */
  readonly blocked_by: boolean;
}

export function relationshipStatus(edges: readonly RelationshipEdge[], isSelf: boolean): RelationshipStatus {
  let friend: FriendStatus = 'none';
  if (hasEdge(edges, true, 'friend', 'accepted') || hasEdge(edges, false, 'friend', 'accepted')) friend = 'friends';
  else if (hasEdge(edges, true, 'friend', 'pending')) friend = 'pending_outgoing';
  else if (hasEdge(edges, false, 'friend', 'pending')) friend = 'pending_incoming';
  return {
    is_self: isSelf,
    friend_status: friend,
    is_favorite: hasEdge(edges, true, 'favorite'),
    is_blocked: hasEdge(edges, true, 'block'),
    blocked_by: hasEdge(edges, false, 'block'),
  };
}

/**
 * A module-level function, not a closure per call: the loader (tsx, esbuild's keepNames)
 * names every named closure with a defineProperty call, and this runs on every profile read.
 */
function hasEdge(edges: readonly RelationshipEdge[], outgoing: boolean, kind: RelationshipEdge['kind'], status?: RelationshipEdge['status']): boolean {
  for (const e of edges) if (e.outgoing === outgoing && e.kind === kind && (status === undefined || e.status === status)) return true;
  return false;
}
