import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { PASSWORD_MAX_LENGTH } from '../../auth/password-policy.ts';
import { AppError, type ErrorCode } from '../../errors/app-error.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { written, viewerOf } from './support/request-context.ts';
import { ErrorBody, errors, secured, Timestamp, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const RegisterBody = Type.Object({
  email: Type.String({ format: 'email', minLength: 3, maxLength: 254 }),
  username: Type.String({ pattern: '^[A-Za-z0-9_.-]{2,40}$', description: '2–40 letters, digits, _ . -' }),
  password: Type.String({
    minLength: 1, maxLength: 4 * PASSWORD_MAX_LENGTH,
    description: '10–200 characters mixing at least two of: lower-case, upper-case, digits, other; not the email or user name',
  }),
}, { additionalProperties: false });

const LoginBody = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 4 * PASSWORD_MAX_LENGTH }),
}, { additionalProperties: false });

const AuthUser = Type.Object({ id: Uuid, email: Type.String(), username: Type.String(), created_at: Timestamp });
const AuthResponse = Type.Object({
  token: Type.String({ description: 'Bearer token (256 random bits, base64url); shown once' }),
  expires_at: Timestamp,
  user: AuthUser,
});
const SessionResponse = Type.Object({
  user: Type.Object({ id: Uuid, email: Type.String(), username: Type.String(), is_superuser: Type.Boolean() }),
  session: Type.Object({ id: Uuid, expires_at: Timestamp }),
});

export async function authRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { auth } = deps.services;
  const requireAuth = authenticate(deps.services);

  app.post<{ Body: Static<typeof RegisterBody> }>('/api/auth/register', {
    schema: {
      tags: ['auth'], summary: 'Create an account and a first session',
      description: 'With an Idempotency-Key, a replay (same key, email and user name, and the right password) returns the same user with a new session token: tokens are never stored in the clear.',
      headers: IdempotencyHeaders, body: RegisterBody, response: { 201: AuthResponse, ...errors(409), ...idempotencyErrors },
    },
    preValidation: strictBody(RegisterBody),
  }, async (request, reply) => {
    // A replay (same key) checks the password as a login does, so it counts against the same
    // limits (before: unlimited guesses through /register while /login answered 429); so does
    // EMAIL_TAKEN, which tells whether an address has an account.
    const key = idempotencyKey(request, { omit: ['password'] });
    const result = await underLoginLimits(reply, deps.loginLimiter, { ip: request.ip, email: request.body.email },
      () => auth.register(request.body, key), ['IDEMPOTENCY_KEY_REUSED', 'EMAIL_TAKEN']);
    return written(reply, result, 201);
  });

  app.post<{ Body: Static<typeof LoginBody> }>('/api/auth/login', {
    schema: {
      tags: ['auth'], summary: 'Log in with email and password',
      description: 'After too many failed logins from one address or for one account, 429 with Retry-After (docs/SECURITY.md).',
      body: LoginBody, response: { 200: AuthResponse, ...errors(401), 429: ErrorBody },
    },
    preValidation: strictBody(LoginBody),
  }, async (request, reply) => {
    const result = await underLoginLimits(reply, deps.loginLimiter, { ip: request.ip, email: request.body.email },
      () => auth.login({ ...request.body, userAgent: request.headers['user-agent'] }), ['INVALID_CREDENTIALS']);
    return written(reply, result);
  });

  app.post('/api/auth/logout', {
    schema: secured('auth', 'Revoke the current session', { response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors(401) } }),
    onRequest: requireAuth,
  }, async (request, reply) => written(reply, await auth.logout(request.bearerToken ?? '')));

  app.get('/api/auth/session', {
    schema: secured('auth', 'The current session and its user', { response: { 200: SessionResponse, ...errors(401) } }),
    onRequest: requireAuth,
  }, async (request) => {
    const v = viewerOf(request);
    return {
      user: { id: v.userId, email: v.email, username: v.username, is_superuser: v.isSuperuser },
      session: { id: v.sessionId, expires_at: v.expiresAt },
    };
  });
}

/**
 * Failed-login limits (src/cache/rate-limit.ts) around a password check: the attempt is
 * counted, or refused with 429, before anything is hashed; an error in `failures` leaves it
 * counted, a success or any other error takes it back.
 */
type LoginLimiter = NonNullable<AppDeps['loginLimiter']>;
async function underLoginLimits<T>(reply: FastifyReply, limiter: LoginLimiter | undefined, key: Parameters<LoginLimiter['begin']>[0], attempt: () => Promise<T>, failures: readonly ErrorCode[]): Promise<T> {
  const admission = limiter ? await limiter.begin(key) : undefined;
  const limited = admission?.limited;
  if (limited) {
    reply.header('Retry-After', String(limited.retryAfterSeconds));
    throw new AppError('RATE_LIMITED', 'Too many failed logins; try again later', { retry_after_s: limited.retryAfterSeconds });
  }
  try {
    const result = await attempt();
    if (limiter && admission) await limiter.succeeded(key, admission);
    return result;
  } catch (err) {
    const failed = err instanceof AppError && failures.includes(err.code);
    if (limiter && admission && !failed) await limiter.abandoned(key, admission);
    throw err;
  }
}
