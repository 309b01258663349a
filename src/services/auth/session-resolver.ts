import type { SessionRepository } from '../../repositories/sessions.repository.ts';
import { hashToken, isWellFormedToken, secretsEqual } from '../../auth/tokens.ts';

/** Who a bearer token belongs to. Small and JSON-safe so the cache layer can store it as is. */
export interface SessionInfo {
  readonly sessionId: string;
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly isSuperuser: boolean;
  /** ISO-8601; callers re-check it, so a cached entry cannot outlive its session. */
  readonly expiresAt: string;
}

/**
 * The hot read behind every authenticated request. The cache layer wraps it (keyed by
 * tokenHashHex(token), invalidated through WriteHooks.onSessionRevoked) without the
 * routes noticing; AuthService.authenticate re-checks expiry on whatever it returns.
 */
export interface SessionResolver {
  resolve(token: string): Promise<SessionInfo | null>;
}

/** The database-backed resolver: one primary-key-like lookup on sessions_token_hash_key. */
export class DbSessionResolver implements SessionResolver {
  constructor(private readonly sessions: SessionRepository) {}

  async resolve(token: string): Promise<SessionInfo | null> {
    if (!isWellFormedToken(token)) return null;
    const hash = hashToken(token);
    const row = await this.sessions.findLive(hash);
    // The index lookup already matched; comparing again in constant time costs nothing
    // and keeps the secret comparison itself free of early exits.
    if (!row || !secretsEqual(row.token_hash, hash)) return null;
    return {
      sessionId: row.session_id,
      userId: row.user_id,
      username: row.username,
      email: row.email,
      isSuperuser: row.is_superuser,
      expiresAt: row.expires_at,
    };
  }
}
