import { describe, expect, it } from 'vitest';
import { canonical, parseKey, requestFingerprint } from '../../src/http/idempotency.ts';
import { AppError } from '../../src/errors/app-error.ts';

/** The HTTP rules of Idempotency-Key (src/http/idempotency.ts): which keys are valid, and what counts as "the same request". */

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
}

describe('Idempotency-Key header', () => {
  it('accepts UUIDs, ULIDs, base64url and sf-string quoted keys (the quotes are not part of the key)', () => {
    expect(parseKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseKey('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(parseKey('q1w2e3r4_-+/=.:~')).toBe('q1w2e3r4_-+/=.:~');
    expect(parseKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseKey('x'.repeat(255))).toHaveLength(255);
  });

  it('refuses short, long, blank, spaced, non-ASCII and repeated headers with 400 IDEMPOTENCY_KEY_INVALID', () => {
    for (const bad of ['', 'short', '1234567', 'x'.repeat(256), 'has space in it', 'ключ-ключ-ключ', 'abc\u0000defgh', '""', '"unterminated']) {
      expect(codeOf(() => parseKey(bad)), JSON.stringify(bad)).toBe('IDEMPOTENCY_KEY_INVALID');
    }
    // Two headers arrive as an array (or joined with ", " by Node): never one of them silently.
    expect(codeOf(() => parseKey(['key-one-1234', 'key-two-1234']))).toBe('IDEMPOTENCY_KEY_INVALID');
    expect(codeOf(() => parseKey('key-one-1234, key-two-1234'))).toBe('IDEMPOTENCY_KEY_INVALID');
  });
});

describe('request fingerprint', () => {
  const route = '/api/chat/conversations/:id/messages';
  const params = { id: '0190a0b0-0000-7000-8000-000000000001' };

  it('ignores key order at every level', () => {
    expect(canonical({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toEqual({ a: { c: null, d: [3, { y: 2, z: 1 }] }, b: 1 });
    const a = requestFingerprint('POST', route, params, { content: 'hi', meta: { x: 1, y: 2 } });
    const b = requestFingerprint('post', route, params, { meta: { y: 2, x: 1 }, content: 'hi' });
    expect(a.equals(b)).toBe(true);
    expect(a).toHaveLength(32);
  });

  it('is the same for a path id in capitals (the routes read ids lower-cased)', () => {
    const lower = requestFingerprint('POST', route, params, { content: 'hi' });
    const upper = requestFingerprint('POST', route, { id: params.id.toUpperCase() }, { content: 'hi' });
    expect(upper.equals(lower)).toBe(true);
  });

  it('is the same for a body id field in capitals (recipient_id), but not for other text in capitals', () => {
    const conversations = '/api/chat/conversations';
    const lower = requestFingerprint('POST', conversations, {}, { recipient_id: params.id });
    expect(requestFingerprint('POST', conversations, {}, { recipient_id: params.id.toUpperCase() }).equals(lower)).toBe(true);
    // A message whose text happens to be a UUID is stored as written: its case is part of the request.
    const text = requestFingerprint('POST', route, params, { content: params.id });
    expect(requestFingerprint('POST', route, params, { content: params.id.toUpperCase() }).equals(text)).toBe(false);
  });

  it('changes with any value, path parameter, route or method', () => {
    const base = requestFingerprint('POST', route, params, { content: 'hi' });
    const variants = [
      requestFingerprint('POST', route, params, { content: 'hi ' }),
      requestFingerprint('POST', route, { id: '0190a0b0-0000-7000-8000-000000000002' }, { content: 'hi' }),
      requestFingerprint('POST', '/api/chat/rooms/:id/messages', params, { content: 'hi' }),
      requestFingerprint('PUT', route, params, { content: 'hi' }),
      requestFingerprint('POST', route, params, { content: 'hi', extra: null }),
      requestFingerprint('POST', route, params, undefined),
      // Array order is meaning, not formatting.
      requestFingerprint('POST', route, params, { content: ['a', 'b'] }),
    ];
    const other = requestFingerprint('POST', route, params, { content: ['b', 'a'] });
    for (const v of variants) expect(v.equals(base)).toBe(false);
    expect(other.equals(variants[variants.length - 1] as Buffer)).toBe(false);
  });
});
