import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * Session lookups and revocation. The lookup runs on the primary on purpose: sessions are
 * the security boundary, so a token revoked a moment ago must fail at once and a token
 * issued a moment ago must work at once; a lagging replica would break both. The cache
 * layer fronts this statement (SessionResolver), so the primary only sees cache misses.
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
}
