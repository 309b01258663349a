import crypto from 'node:crypto';

/**
 * Session tokens: 256 random bits, sent to the client once as base64url (43 characters)
 * and stored only as their sha256 (sessions.token_hash). A database leak therefore gives
 * no usable token; sha256 without salt is right here because the input is uniformly
 * random, not a guessable password.
 */
export const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return crypto.randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Cheap shape check so a malformed header never costs a database round trip. */
export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

// crypto.hash is the one-shot digest (Node ≥ 20.12): no Hash object per call. Every
// authenticated request hashes its token, and createHash().update().digest() was about
// 3% of the API's profiled time under the profile workload (docs/PERFORMANCE.md).
export function hashToken(token: string): Buffer {
  return crypto.hash('sha256', token, 'buffer');
}

/** Hex form of the hash, the key the cache layer uses for a session (never the token). */
export function tokenHashHex(token: string): string {
  return crypto.hash('sha256', token, 'hex');
}

/** Constant-time equality of two secrets' digests (different lengths are simply unequal). */
export function secretsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
