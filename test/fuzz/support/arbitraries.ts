import fc from 'fast-check';

/**
 * Hostile inputs for the route fuzzer: strings PostgreSQL or JSON handle badly (NUL, lone
 * surrogates), strings people use to break parsers and queries (SQL injection, format
 * strings, path traversal), odd Unicode (RTL overrides, zero-width, emoji, BOM), and
 * sizes at and past the limits.
 */
const NASTY_CONSTANTS = [
  '', ' ', '\u0000', 'a\u0000b', '\u0000\u0000', '\uD800', '\uDC00x', 'x\uDBFF', '\uFFFE', '\uFEFFbom',
  '\u202Eevil\u202C', '\u200F\u200E', '\u200B\u200D', 'e\u0301', 'ﬁ', 'İ', 'ß', '😀', '👩‍👩‍👧‍👦', '𝕏'.repeat(20),
  "' OR 1=1 --", "'; DROP TABLE users; --", '" OR ""="', '1; SELECT pg_sleep(10)', "') UNION SELECT password_hash FROM users --",
  '$1', '%', '_', '%_%', '\\', '\\x00', '\\u0000', '{}', '[]', 'null', 'true', '0', '-1', '1e309', 'NaN', 'Infinity',
  '<script>alert(1)</script>', '../../etc/passwd', '%00', '%zz', '\r\n\r\n', '\t', '${jndi:ldap://x}', '{{7*7}}',
  '__proto__', 'constructor', 'a'.repeat(300), 'a'.repeat(70_000),
] as const;

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_CONSTANTS) },
  // PostgreSQL cannot store U+0000 at all: give it its own share.
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })).map(([x, y]) => `${x}\u0000${y}`) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...NASTY_CONSTANTS), fc.string({ maxLength: 8 })).map(([a, b, c]) => a + b + c) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 2000, maxLength: 6000 }) },
);

/** Any JSON value, including deep nesting and the special keys. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, true, false, null, [], {}) },
  { weight: 1, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }).map((d) => nest(d)) },
);

function nest(depth: number): unknown {
  let v: unknown = 'deep';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

/** Path segments: real ids, random UUIDs, upper-case UUIDs, and garbage (percent-encoded). */
export function pathId(realIds: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...realIds) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...realIds).map((id) => id.toUpperCase()) },
    { weight: 1, arbitrary: fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'me', 'null', '-1', '1') },
    { weight: 3, arbitrary: nastyString.map((s) => enc(s.slice(0, 500)) || '%20') },
    { weight: 1, arbitrary: fc.constantFrom('%00', '%zz', '%E0%A4%A', '..', '%2e%2e', '%2F', 'a%00b') },
  );
}

/** Cursor tampering: garbage, edited real cursors, and well-formed base64url of hostile JSON. */
export function cursor(realCursors: readonly string[]): fc.Arbitrary<string> {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
  const kinds = ['inbox', 'conversation_history', 'room_history', 'feed_global', 'feed_following', 'comments', 'search', 'search_near', 'rooms', 'relationships', 'nope'];
  const forged = fc.record({
    kind: fc.constantFrom(...kinds),
    ts: fc.oneof(fc.constant('2024-01-01T00:00:00.000Z'), fc.constant('9999-12-31T23:59:59.999999Z'), fc.constant('0001-01-01T00:00:00Z'), nastyString),
    id: fc.oneof(fc.uuid(), nastyString),
    c: fc.oneof(fc.uuid(), nastyString),
    w: fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.double(), nastyString),
    d: fc.oneof(fc.double(), fc.constantFrom('incoming', 'outgoing'), nastyString),
    o: fc.oneof(fc.uuid(), nastyString),
    k: fc.constantFrom('friend', 'favorite', 'block', 'x'),
    name: nastyString,
  }, { requiredKeys: ['kind'] });
  const edited = fc.tuple(fc.constantFrom(...realCursors), fc.nat(), fc.constantFrom('A', '_', '-', 'z', '0')).map(([c, i, ch]) => {
    const at = i % Math.max(1, c.length);
    return c.slice(0, at) + ch + c.slice(at + 1);
  });
  const decodedEdit = fc.tuple(fc.constantFrom(...realCursors), fc.constantFrom('ts', 'id', 'c', 'w', 'kind', 'd', 'o', 'name'), anyJson).map(([c, key, v]) => {
    const obj = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
    obj[key] = v;
    return b64(obj);
  });
  return fc.oneof(
    { weight: 2, arbitrary: forged.map(b64) },
    { weight: 2, arbitrary: edited },
    { weight: 2, arbitrary: decodedEdit },
    { weight: 1, arbitrary: fc.constantFrom(...realCursors).map((c) => c.slice(0, Math.floor(c.length / 2))) },
    { weight: 1, arbitrary: fc.base64String({ maxLength: 200 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')) },
    { weight: 1, arbitrary: nastyString.map((s) => s.slice(0, 700)) },
    // A literal "__proto__" key (JSON.parse makes it an own property; a naive merge would pollute).
    { weight: 1, arbitrary: fc.constant(Buffer.from('{"kind":"inbox","ts":"2024-01-01T00:00:00Z","id":"00000000-0000-0000-0000-000000000000","__proto__":{"polluted":1}}').toString('base64url')) },
  );
}

/** A query-string value: numbers in and out of range, enums, hostile strings. */
export const queryValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: -5, max: 1_000 }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.constantFrom('global', 'following', 'friends', '', '1e3', '0x10', '9'.repeat(40), '{"smoker":false}', '[1,2]', '{"a":"\\u0000"}', 'a,b,,c', ',') },
  { weight: 3, arbitrary: nastyString.map((s) => s.slice(0, 3000)) },
);

/**
 * encodeURIComponent that does not throw on lone surrogates: they are sent as their
 * WTF-8 bytes (e.g. %ED%A0%80), i.e. invalid UTF-8 on the wire, as a hostile client could.
 */
export function enc(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}
