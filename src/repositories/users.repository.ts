import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, Tx } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * Accounts: registration and the login lookup. Both run on the primary: a user who just
 * registered must be able to log in at once, whatever the replicas' lag.
 */
export const userQueries = catalog({
  register: defineQuery({
    name: 'auth.register',
    description: 'Creates the user, an empty profile and the first session in one statement (one round trip). A duplicate email or username fails the whole statement with 23505 on users_email_lower_key / users_username_lower_key.',
    target: 'primary',
    sample: {
      sql: `SELECT gen_random_uuid() AS id, 'explain-audit@example.test' AS email, 'explain_audit' AS username,
                   'scrypt$16384$8$1$c2FsdA$aGFzaA' AS password_hash, gen_random_uuid() AS session_id,
                   sha256('explain-audit'::bytea) AS token_hash, now() + interval '1 day' AS expires_at LIMIT 1`,
    },
    sql: `
WITH u AS (
  INSERT INTO users (id, email, username, password_hash)
  VALUES ($1, $2, $3, $4)
  RETURNING id, email, username, created_at
), p AS (
  INSERT INTO profiles (user_id, display_name)
  SELECT id, username FROM u
  RETURNING user_id
), s AS (
  INSERT INTO sessions (id, user_id, token_hash, expires_at)
  SELECT $5, id, $6, $7 FROM u
  RETURNING id, expires_at
)
SELECT u.id, u.email, u.username, ${iso('u.created_at')} AS created_at,
       s.id AS session_id, ${iso('s.expires_at')} AS expires_at
FROM u CROSS JOIN s`,
  }),
  findByEmail: defineQuery({
    name: 'auth.find_user_by_email',
    description: 'Login lookup by case-insensitive email (users_email_lower_key). Primary: a user who registered a moment ago must be found.',
    target: 'primary',
    sample: { sql: `SELECT email FROM users WHERE is_active ORDER BY id LIMIT 1` },
    sql: `
SELECT id, email, username, password_hash, is_active, ${iso('created_at')} AS created_at
FROM users
WHERE lower(email) = lower($1)`,
  }),
  loginSession: defineQuery({
    name: 'auth.login_session',
    description: 'Opens a session after a verified password, if the account is still active, and stamps last_login_at / last_active_at, in one statement.',
    target: 'primary',
    sample: {
      sql: `SELECT gen_random_uuid() AS session_id, id AS user_id, sha256(id::text::bytea) AS token_hash,
                   now() + interval '1 day' AS expires_at, 'explain-audit' AS user_agent
            FROM users WHERE is_active ORDER BY id LIMIT 1`,
    },
    sql: `
WITH u AS (
  -- Only while the account is active, re-checked under the row's lock: a suspension that
  -- committed during the password check (or is committing now) leaves no session behind
  -- (before: the login answered 200 with a token the suspension never revoked).
  UPDATE users SET last_login_at = now() WHERE id = $2 AND is_active RETURNING id
), s AS (
  INSERT INTO sessions (id, user_id, token_hash, expires_at, user_agent)
  SELECT $1, u.id, $3, $4, $5 FROM u
  RETURNING id, expires_at
), p AS (
  UPDATE profiles SET last_active_at = now() WHERE user_id = (SELECT id FROM u) RETURNING user_id
)
SELECT s.id AS session_id, ${iso('s.expires_at')} AS expires_at FROM s`,
  }),
});

export interface NewUserRow {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly created_at: string;
  readonly session_id: string;
  readonly expires_at: string;
}

export interface UserCredentialsRow {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly password_hash: string;
  readonly is_active: boolean;
  readonly created_at: string;
}

export class UserRepository {
  constructor(private readonly db: Database) {}

  async register(input: {
    id: string; email: string; username: string; passwordHash: string;
    sessionId: string; tokenHash: Buffer; expiresAt: Date;
  }, q: Tx = this.db): Promise<NewUserRow> {
    const rows = await q.query<NewUserRow>(userQueries.register, [
      input.id, input.email, input.username, input.passwordHash, input.sessionId, input.tokenHash, input.expiresAt,
    ]);
    const row = rows[0];
    if (!row) throw new Error('auth.register returned no row');
    return row;
  }

  async findByEmail(email: string): Promise<UserCredentialsRow | undefined> {
    const rows = await this.db.query<UserCredentialsRow>(userQueries.findByEmail, [email]);
    return rows[0];
  }

  async openSession(input: {
    sessionId: string; userId: string; tokenHash: Buffer; expiresAt: Date; userAgent: string | undefined;
  }): Promise<{ session_id: string; expires_at: string } | undefined> {
    const rows = await this.db.query<{ session_id: string; expires_at: string }>(userQueries.loginSession, [
      input.sessionId, input.userId, input.tokenHash, input.expiresAt, input.userAgent ?? null,
    ]);
    return rows[0];
  }
}
