import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import { sqlState } from '../../db/errors.ts';
import { hashPassword, verifyPassword } from '../../auth/password.ts';
import { passwordProblems } from '../../auth/password-policy.ts';
import { hashToken, isWellFormedToken, newSessionToken, tokenHashHex } from '../../auth/tokens.ts';
import type { UserRepository } from '../../repositories/users.repository.ts';
import type { SessionRepository } from '../../repositories/sessions.repository.ts';
import type { WriteHooks } from '../hooks.ts';
import { noteWriteAnd, type Written } from '../support.ts';
import { newId } from '../ids.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import type { SessionInfo, SessionResolver } from './session-resolver.ts';

export interface AuthUser {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly created_at: string;
}

export interface AuthResult {
  readonly token: string;
  readonly expires_at: string;
  readonly user: AuthUser;
}

interface AuthDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly resolver: SessionResolver;
  readonly hooks: WriteHooks;
}

/**
 * Registration, login, logout and token resolution.
 * Tokens: 256 random bits, stored as sha256 only (src/auth/tokens.ts); sessions expire
 * after config.sessionTtlHours; logout sets revoked_at.
 */
export class AuthService {
  /** A real hash of a random password: login for an unknown email still pays one scrypt, so timing does not reveal which emails exist. */
  #dummyHash: Promise<string> | undefined;

  constructor(private readonly d: AuthDeps) {}

  /**
   * With an Idempotency-Key, the record holds the user and the session's expiry, never the
   * token (tokens exist only as hashes): a replay proves the password and gets a new session.
   */
  async register(input: { email: string; username: string; password: string }, key?: IdempotencyKey): Promise<Written<AuthResult>> {
    const email = input.email.trim().toLowerCase();
    const username = input.username.trim();
    const problems = passwordProblems(input.password, { email, username });
    if (problems.length > 0) throw new AppError('WEAK_PASSWORD', `Password ${problems.join('; ')}`, { problems });
    const passwordHash = await hashPassword(input.password);
    const token = newSessionToken();
    const userId = newId();
    const created = await runIdempotent(this.d.db, key, async (q) => {
      try {
        const row = await this.d.users.register({
          id: userId, email, username, passwordHash, sessionId: newId(), tokenHash: hashToken(token), expiresAt: this.#expiry(),
        }, q);
        return { expires_at: row.expires_at, user: { id: row.id, email: row.email, username: row.username, created_at: row.created_at } };
      } catch (err) {
        if (sqlState(err) === '23505') { // unique_violation
          const constraint = (err as { constraint?: string }).constraint;
          throw new AppError(constraint === 'users_username_lower_key' ? 'USERNAME_TAKEN' : 'EMAIL_TAKEN', undefined, undefined, { cause: err });
        }
        throw err;
      }
    });
    if (created.replayed) return this.#replayRegistration(created.value.user, input.password);
    const { user, expires_at } = created.value;
    // A cache may hold "no such profile" for this id from a probe before registration.
    const lsn = await noteWriteAnd(this.d.db, this.d.logger, user.id, (at) => this.d.hooks.profileChanged(user.id, at));
    return { value: { token, expires_at, user }, lsn };
  }

  /** The registration this key made, if this password is its user's: the same user, a new session. */
  async #replayRegistration(user: AuthUser, password: string): Promise<Written<AuthResult>> {
    const reused = () => new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request');
    let session: Written<AuthResult>;
    try {
      session = await this.login({ email: user.email, password });
    } catch (err) {
      if (err instanceof AppError && err.code === 'INVALID_CREDENTIALS') throw reused();
      throw err;
    }
    if (session.value.user.id !== user.id) throw reused();
    return { ...session, replayed: true };
  }

  async login(input: { email: string; password: string; userAgent?: string }): Promise<Written<AuthResult>> {
    const user = await this.d.users.findByEmail(input.email.trim());
    if (!user || !user.is_active) {
      await verifyPassword(input.password, await this.#dummy());
      throw new AppError('INVALID_CREDENTIALS');
    }
    if (!(await verifyPassword(input.password, user.password_hash))) throw new AppError('INVALID_CREDENTIALS');
    const token = newSessionToken();
    const session = await this.d.users.openSession({
      sessionId: newId(), userId: user.id, tokenHash: hashToken(token), expiresAt: this.#expiry(),
      userAgent: input.userAgent?.slice(0, 300),
    });
    if (!session) throw new AppError('INVALID_CREDENTIALS');
    // last_active_at moved
    const lsn = await noteWriteAnd(this.d.db, this.d.logger, user.id, (at) => this.d.hooks.profileChanged(user.id, at));
    return {
      value: { token, expires_at: session.expires_at, user: { id: user.id, email: user.email, username: user.username, created_at: user.created_at } },
      lsn,
    };
  }

  /** Revokes the session of this token. Idempotent: a second logout changes nothing. */
  async logout(token: string): Promise<Written<{ revoked: boolean }>> {
    if (!isWellFormedToken(token)) return { value: { revoked: false }, lsn: undefined };
    const row = await this.d.sessions.revoke(hashToken(token));
    if (!row) return { value: { revoked: false }, lsn: undefined };
    const lsn = await noteWriteAnd(this.d.db, this.d.logger, row.user_id, () => this.d.hooks.sessionRevoked(tokenHashHex(token), row.user_id));
    return { value: { revoked: true }, lsn };
  }

  /** The live session of a bearer token, or null (unknown, revoked, expired, inactive user). */
  async authenticate(token: string): Promise<SessionInfo | null> {
    const info = await this.d.resolver.resolve(token);
    if (!info || Date.parse(info.expiresAt) <= Date.now()) return null;
    return info;
  }

  #expiry(): Date {
    return new Date(Date.now() + this.d.config.sessionTtlHours * 3_600_000);
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(newSessionToken());
    return this.#dummyHash;
  }
}
