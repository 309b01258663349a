import crypto from 'node:crypto';

/**
 * Password hashing with node:crypto scrypt. Stored format (one string, self-describing so the
 * cost can be raised later without a migration):
 *
 *   scrypt$N$r$p$saltB64$hashB64      e.g. scrypt$16384$8$1$<16-byte salt>$<64-byte key>
 *
 * N=16384, r=8, p=1 needs 16 MiB per hash (128·N·r bytes) and ~50 ms on one core here: slow
 * enough to make offline guessing expensive, fast enough for a login path.
 */
export const SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1, keylen: 64, saltBytes: 16 } as const;

// Bounds on what we accept from a stored hash, so a tampered row cannot make one login
// allocate gigabytes (scrypt memory is 128·N·r bytes).
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_KEYLEN = 256;

interface ParsedHash { N: number; r: number; p: number; salt: Buffer; hash: Buffer }

function scrypt(password: string, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  // maxmem must exceed 128·N·r; node's default (32 MiB) is too tight once N or r grow.
  const maxmem = 128 * N * r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(password.normalize('NFKC'), salt, keylen, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function isPowerOfTwo(n: number): boolean {
  return n > 1 && (n & (n - 1)) === 0;
}

function parse(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every(Number.isSafeInteger)) return undefined;
  if (!isPowerOfTwo(N) || N > MAX_N || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const hash = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > MAX_KEYLEN) return undefined;
  return { N, r, p, salt, hash };
}

/** Hashes with an explicit salt. The seed uses it so a seeded database is byte-for-byte reproducible. */
export async function hashPasswordWithSalt(password: string, salt: Buffer): Promise<string> {
  const { N, r, p, keylen } = SCRYPT_PARAMS;
  const key = await scrypt(password, salt, keylen, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  return hashPasswordWithSalt(password, crypto.randomBytes(SCRYPT_PARAMS.saltBytes));
}

/**
 * Verifies a password against a stored hash in constant time. A malformed or unknown
 * stored value verifies as false rather than throwing: callers answer "wrong credentials".
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, parsed.hash.length, parsed.N, parsed.r, parsed.p);
  return key.length === parsed.hash.length && crypto.timingSafeEqual(key, parsed.hash);
}
