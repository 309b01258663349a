import { describe, it, expect } from 'vitest';
import { hashPassword, hashPasswordWithSalt, verifyPassword } from '../../src/auth/password.ts';

describe('password hashing (scrypt)', () => {
  it('stores scrypt$N$r$p$salt$hash with N=16384, r=8, p=1 and a 64-byte key', async () => {
    const stored = await hashPassword('demo-password-123');
    const m = /^scrypt\$16384\$8\$1\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
    expect(m).not.toBeNull();
    expect(Buffer.from(m![1]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(m![2]!, 'base64')).toHaveLength(64);
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const stored = await hashPassword('correct horse');
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword('correct horsE', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('uses a fresh salt per hash, or the given one (the seed hashes once, reproducibly)', async () => {
    expect(await hashPassword('x')).not.toBe(await hashPassword('x'));
    const salt = Buffer.alloc(16, 7);
    expect(await hashPasswordWithSalt('x', salt)).toBe(await hashPasswordWithSalt('x', salt));
  });

  it('treats malformed or abusive stored values as a failed verification, not an error', async () => {
    const good = await hashPassword('pw');
    const parts = good.split('$');
    const variants = [
      '', 'plain-text', 'bcrypt$2b$10$abc', parts.slice(0, 5).join('$'),
      ['scrypt', '1048577', '8', '1', parts[4], parts[5]].join('$'), // N not a power of two
      ['scrypt', String(2 ** 24), '8', '1', parts[4], parts[5]].join('$'), // N too large (memory)
      ['scrypt', '16384', '8', '1', '', parts[5]].join('$'), // no salt
    ];
    for (const v of variants) expect(await verifyPassword('pw', v)).toBe(false);
  });
});
