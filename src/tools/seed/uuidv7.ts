import type { Prng } from './prng.ts';

/**
 * UUIDv7 (RFC 9562) for a given moment: 48-bit Unix milliseconds, version 7, 12 random
 * bits, variant 10, 62 random bits. The app generates v7 ids at "now"; the seed needs ids
 * for moments in the past so that an id carries its row's created_at (and so its
 * partition). The random bits come from the seed's PRNG, keeping a seeded database
 * reproducible. Writes the 16 raw bytes into `buf` at `offset` (binary COPY wants bytes).
 */
export function writeUuidV7(buf: Buffer, offset: number, unixMs: number, rng: Prng): void {
  const ms = Math.floor(unixMs);
  if (ms < 0 || ms > 0xffff_ffff_ffff) throw new RangeError(`timestamp ${unixMs} does not fit UUIDv7`);
  const hi = Math.floor(ms / 0x1_0000_0000); // top 16 bits; ms < 2^48 keeps this exact
  const lo = ms - hi * 0x1_0000_0000;
  // Plain byte stores (typed arrays keep the low 8 bits): this runs once per seeded row.
  buf[offset] = hi >>> 8;
  buf[offset + 1] = hi;
  buf[offset + 2] = lo >>> 24;
  buf[offset + 3] = lo >>> 16;
  buf[offset + 4] = lo >>> 8;
  buf[offset + 5] = lo;
  const r1 = rng.uint32();
  const r2 = rng.uint32();
  const r3 = rng.uint32();
  buf[offset + 6] = 0x70 | (r1 & 0x0f); // version 7 + rand_a high nibble
  buf[offset + 7] = r1 >>> 8;
  buf[offset + 8] = 0x80 | ((r1 >>> 16) & 0x3f); // variant 10 + rand_b
  buf[offset + 9] = r1 >>> 24;
  buf[offset + 10] = r2 >>> 24;
  buf[offset + 11] = r2 >>> 16;
  buf[offset + 12] = r2 >>> 8;
  buf[offset + 13] = r2;
  buf[offset + 14] = r3 >>> 8;
  buf[offset + 15] = r3;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The canonical 8-4-4-4-12 text form of 16 bytes. */
export function uuidToString(buf: Buffer, offset = 0): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[buf[offset + i] as number];
  }
  return s;
}

/** Unix milliseconds encoded in a UUIDv7 (text or bytes). */
export function uuidV7Millis(id: string | Buffer): number {
  const hex = typeof id === 'string' ? id.replace(/-/g, '').slice(0, 12) : id.subarray(0, 6).toString('hex');
  return parseInt(hex, 16);
}

/** Byte order comparison, the same order PostgreSQL's uuid type uses (memcmp). */
export function compareUuidBytes(a: Buffer, aOff: number, b: Buffer, bOff: number): number {
  for (let i = 0; i < 16; i++) {
    const d = (a[aOff + i] as number) - (b[bOff + i] as number);
    if (d !== 0) return d;
  }
  return 0;
}
