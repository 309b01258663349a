import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * Session lookups, revocation, and the expiry job's batched delete. The lookup runs on the
 * primary on purpose: sessions are the security boundary, so a token revoked a moment ago
 * must fail at once and a token issued a moment ago must work at once; a lagging replica
 * would break both. The cache layer fronts this statement (SessionResolver), so the primary
 * only sees cache misses.
 */
export const sessionQueries = catalog({
  byTokenHash: defineQuery({
    name: 'session.by_token_hash',
    description: 'Resolves a bearer token (by its sha256) to a live session and its active user. Primary: revocation must take effect immediately.',
    target: 'primary',
    // A seeded database may have no sessions: then the hash of a random value (no match) still exercises the plan.
    sample: { sql: `SELECT COALESCE((SELECT token_hash FROM sessions WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1), sha256('explain-audit'::bytea)) AS token_hash LIMIT 1` },
    sql: `
SELECT s.id AS session_id, s.user_id, s.token_hash, ${iso('s.expires_at')} AS expires_at,
       u.username, u.email, u.is_superuser
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1
  AND s.revoked_at IS NULL
  AND s.expires_at > now()
  AND u.is_active`,
  }),
  revoke: defineQuery({
    name: 'session.revoke',
    description: 'Logout: marks the session revoked. Idempotent; returns the row only the first time.',
    target: 'primary',
    sample: { sql: `SELECT COALESCE((SELECT token_hash FROM sessions ORDER BY created_at DESC LIMIT 1), sha256('explain-audit'::bytea)) AS token_hash LIMIT 1` },
    sql: `
UPDATE sessions SET revoked_at = now()
WHERE token_hash = $1 AND revoked_at IS NULL
RETURNING id AS session_id, user_id`,
  }),
  // Revoked sessions are not picked out: every session has an expiry at most the session TTL
  // (BGC_SESSION_TTL_HOURS) ahead, so a revoked one goes here once that passes. That keeps
  // sessions_expires_at_idx the only index this needs; none on revoked_at.
  expire: defineQuery({
    name: 'session.expire',
    description: 'Deletes up to $2 sessions that expired more than $1 hours ago (revoked or not), oldest first (sessions_expires_at_idx), skipping rows a writer holds; by ctid (a TID scan), so the delete never joins back over the whole table. The leader job repeats it until a batch comes back short. The rows are already dead, so the cache trigger names none of them.',
    target: 'primary',
    sample: [24, 1000],
    sql: `
WITH gone AS (
  DELETE FROM sessions
  WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM sessions
    WHERE expires_at < now() - make_interval(hours => $1)
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ))
  RETURNING 1
)
SELECT count(*)::int AS deleted FROM gone`,
  }),
});

export interface SessionRow {
  readonly session_id: string;
  readonly user_id: string;
  readonly token_hash: Buffer;
  readonly expires_at: string;
  readonly username: string;
  readonly email: string;
  readonly is_superuser: boolean;
}

export class SessionRepository {
  constructor(private readonly db: Database) {}

  async findLive(tokenHash: Buffer): Promise<SessionRow | undefined> {
    const rows = await this.db.query<SessionRow>(sessionQueries.byTokenHash, [tokenHash]);
    return rows[0];
  }

  async revoke(tokenHash: Buffer): Promise<{ session_id: string; user_id: string } | undefined> {
    const rows = await this.db.query<{ session_id: string; user_id: string }>(sessionQueries.revoke, [tokenHash]);
    return rows[0];
  }

  /** Deletes one batch of sessions expired more than `graceHours` ago; returns how many. */
  async expireBatch(graceHours: number, batch: number): Promise<number> {
    const rows = await this.db.query<{ deleted: number }>(sessionQueries.expire, [graceHours, batch]);
    return rows[0]?.deleted ?? 0;
  }
}
