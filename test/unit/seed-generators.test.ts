import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Prng } from '../../src/tools/seed/prng.ts';
import { writeUuidV7, uuidToString, uuidV7Millis, compareUuidBytes } from '../../src/tools/seed/uuidv7.ts';
import { BinaryCopyEncoder } from '../../src/tools/seed/binary-copy.ts';
import { allocateBySlice, buildTimeline, partitionMonths, DAY_MS } from '../../src/tools/seed/timeline.ts';
import { PairSet } from '../../src/tools/seed/pair-set.ts';
import { buildWorld } from '../../src/tools/seed/world.ts';
import { PRESETS } from '../../src/tools/seed/presets.ts';
import { partitionName } from '../../src/partitions/naming.ts';
import { cascadingDefinition } from '../../src/tools/seed/rebuild-indexes.ts';

const ANCHOR = Date.UTC(2026, 10, 28, 4); // 2026-11-28T04:00Z

describe('seed PRNG', () => {
  it('is a pure function of (seed, label)', () => {
    const draw = (seed: number, label: string) => { const r = new Prng(seed, label); return Array.from({ length: 5 }, () => r.uint32()); };
    expect(draw(42, 'users')).toEqual(draw(42, 'users'));
    expect(draw(42, 'users')).not.toEqual(draw(43, 'users'));
    expect(draw(42, 'users')).not.toEqual(draw(42, 'messages'));
  });

  it('draws floats in [0, 1) with a mean near 1/2', () => {
    const r = new Prng(1, 'floats');
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const f = r.float();
      if (!(f >= 0 && f < 1)) outside++;
      sum += f;
    }
    expect(outside).toBe(0);
    expect(sum / 100_000).toBeCloseTo(0.5, 2);
  });

  it('zipf stays in range and is skewed: the top 1% of items take a large share', () => {
    const r = new Prng(7, 'zipf');
    const n = 10_000;
    const counts = new Int32Array(n);
    let outside = 0;
    for (let i = 0; i < 200_000; i++) {
      const k = r.zipf(n, 0.8);
      if (!(Number.isInteger(k) && k >= 0 && k < n)) outside++;
      else counts[k] = (counts[k] as number) + 1;
    }
    expect(outside).toBe(0);
    const top = counts.slice(0, n / 100).reduce((a, b) => a + b, 0);
    expect(top / 200_000).toBeGreaterThan(0.2); // uniform would give 0.01
    expect(counts[0]).toBeGreaterThan(counts[n / 2] as number);
    expect(r.zipf(1, 0.8)).toBe(0);
  });
});

describe('UUIDv7 from a timestamp', () => {
  it('carries the millisecond, version 7 and the RFC variant', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer(), (ms, seed) => {
      const buf = Buffer.alloc(16);
      writeUuidV7(buf, 0, ms, new Prng(seed, 'uuid'));
      const text = uuidToString(buf);
      expect(text).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(uuidV7Millis(text)).toBe(ms);
      expect(uuidV7Millis(buf)).toBe(ms);
    }));
  });

  it('orders ids of different milliseconds by time (byte order = PostgreSQL uuid order)', () => {
    const rng = new Prng(3, 'order');
    const a = Buffer.alloc(16);
    const b = Buffer.alloc(16);
    writeUuidV7(a, 0, 1_700_000_000_000, rng);
    writeUuidV7(b, 0, 1_700_000_000_001, rng);
    expect(compareUuidBytes(a, 0, b, 0)).toBeLessThan(0);
  });
});

describe('binary COPY encoder', () => {
  it('writes the header, field lengths, PostgreSQL-epoch timestamps and the trailer', () => {
    const enc = new BinaryCopyEncoder();
    enc.row(3).timestamp(Date.UTC(2000, 0, 1) + 1).int4(-2).null();
    const out = Buffer.concat(enc.finish());
    expect(out.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
    let p = 19;
    expect(out.readInt16BE(p)).toBe(3); p += 2;
    expect(out.readInt32BE(p)).toBe(8); p += 4;
    expect(out.readBigInt64BE(p)).toBe(1000n); p += 8; // 1 ms after the epoch = 1000 µs
    expect(out.readInt32BE(p)).toBe(4); p += 4;
    expect(out.readInt32BE(p)).toBe(-2); p += 4;
    expect(out.readInt32BE(p)).toBe(-1); p += 4;
    expect(out.readInt16BE(p)).toBe(-1); p += 2;
    expect(p).toBe(out.length);
  });

  it('encodes timestamps before and after 2000 and -infinity like int64', () => {
    const enc = new BinaryCopyEncoder();
    const when = [Date.UTC(1969, 6, 20, 20, 17), Date.UTC(2026, 10, 28, 4, 0, 0, 123)];
    for (const t of when) enc.timestamp(t);
    enc.minusInfinity();
    const out = Buffer.concat(enc.finish());
    expect(out.readBigInt64BE(19 + 4)).toBe(BigInt(when[0]! - 946_684_800_000) * 1000n);
    expect(out.readBigInt64BE(19 + 16)).toBe(BigInt(when[1]! - 946_684_800_000) * 1000n);
    expect(out.readBigInt64BE(19 + 28)).toBe(-(2n ** 63n));
  });

  it('produces the same bytes whatever the chunk size (rows may straddle chunks)', () => {
    const fill = (enc: BinaryCopyEncoder) => {
      const id = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
      for (let i = 0; i < 500; i++) {
        enc.row(6).uuid(id, 0).text(`row ${i} é ☃`).jsonb('{"a":1}').bool(i % 2 === 0).float8(i / 3).date(Date.UTC(1990, 0, i));
      }
      return Buffer.concat(enc.finish());
    };
    const big = fill(new BinaryCopyEncoder(1 << 20));
    const small = new BinaryCopyEncoder(64);
    const chunks: Buffer[] = [];
    const id = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    for (let i = 0; i < 500; i++) {
      small.row(6).uuid(id, 0).text(`row ${i} é ☃`).jsonb('{"a":1}').bool(i % 2 === 0).float8(i / 3).date(Date.UTC(1990, 0, i));
      chunks.push(...small.takeFull());
    }
    chunks.push(...small.finish());
    expect(chunks.length).toBeGreaterThan(10);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
  });
});

describe('timeline', () => {
  it('covers [anchor - months, anchor) with contiguous month slices and partitions 3 months ahead', () => {
    const tl = buildTimeline(ANCHOR, 6);
    expect(tl.startMs).toBe(Date.UTC(2026, 4, 28, 4));
    expect(tl.slices[0]!.fromMs).toBe(tl.startMs);
    expect(tl.slices.at(-1)!.toMs).toBe(ANCHOR);
    for (let i = 1; i < tl.slices.length; i++) expect(tl.slices[i]!.fromMs).toBe(tl.slices[i - 1]!.toMs);
    const names = partitionMonths(tl, 3).map((m) => partitionName('messages', m));
    expect(names[0]).toBe('messages_y2026m05');
    expect(names.at(-1)).toBe('messages_y2027m02');
  });

  it('allocates exactly the total, more per day late in the window than early', () => {
    for (const p of Object.values(PRESETS)) {
      const tl = buildTimeline(ANCHOR, p.months);
      const counts = allocateBySlice(p.messages, tl);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(p.messages);
      const perDay = (i: number) => (counts[i] as number) / ((tl.slices[i]!.toMs - tl.slices[i]!.fromMs) / DAY_MS);
      expect(perDay(tl.slices.length - 1)).toBeGreaterThan(perDay(1));
    }
  });
});

describe('PairSet', () => {
  it('behaves like a Set of pairs', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })), { maxLength: 2000 }), (pairs) => {
      const ours = new PairSet(4);
      const ref = new Set<string>();
      for (const [a, b] of pairs) {
        expect(ours.add(a, b)).toBe(!ref.has(`${a},${b}`));
        ref.add(`${a},${b}`);
      }
      expect(ours.size).toBe(ref.size);
      for (const [a, b] of pairs) expect(ours.has(a, b)).toBe(true);
      expect(ours.has(301, 0)).toBe(false);
    }));
  });
});

describe('world plan', () => {
  it('orders each conversation pair as uuids, never repeats a pair, and only pairs users who exist', () => {
    const world = buildWorld(42, PRESETS.small, buildTimeline(ANCHOR, PRESETS.small.months));
    const { users, conversations: c } = world;
    const pairs = new Set<string>();
    for (let i = 0; i < c.count; i++) {
      const lo = c.low[i]!;
      const hi = c.high[i]!;
      expect(compareUuidBytes(users.ids, lo * 16, users.ids, hi * 16)).toBeLessThan(0);
      expect(pairs.has(`${lo},${hi}`)).toBe(false);
      pairs.add(`${lo},${hi}`);
      expect(users.createdAt[Math.max(lo, hi)]!).toBeLessThanOrEqual(c.createdAt[i]!);
    }
    for (let u = 1; u < users.count; u++) expect(users.createdAt[u]!).toBeGreaterThanOrEqual(users.createdAt[u - 1]!);
    for (let u = 0; u < users.count; u++) expect(uuidV7Millis(users.ids.subarray(u * 16, u * 16 + 16))).toBe(users.createdAt[u]);
  });
});

describe('seed determinism', () => {
  it('plans the same world for the same seed and anchor, a different one for another seed', () => {
    const tl = buildTimeline(ANCHOR, PRESETS.small.months);
    const w1 = buildWorld(42, PRESETS.small, tl);
    const w2 = buildWorld(42, PRESETS.small, tl);
    const w3 = buildWorld(7, PRESETS.small, tl);
    expect(w1.users.ids.equals(w2.users.ids)).toBe(true);
    expect(w1.conversations.ids.equals(w2.conversations.ids)).toBe(true);
    expect(w1.users.ids.equals(w3.users.ids)).toBe(false);
  });
});

describe('index rebuild', () => {
  it('turns pg_get_indexdef of a partitioned index (ON ONLY) into a cascading CREATE INDEX', () => {
    expect(cascadingDefinition('CREATE INDEX messages_room_history_idx ON ONLY public.messages USING btree (room_id, created_at DESC, id DESC)'))
      .toBe('CREATE INDEX messages_room_history_idx ON public.messages USING btree (room_id, created_at DESC, id DESC)');
    expect(cascadingDefinition('CREATE INDEX x ON public.t USING btree (a)')).toBe('CREATE INDEX x ON public.t USING btree (a)');
  });
});
