/**
 * Encoder for PostgreSQL's binary COPY format. Binary rather than text because both ends
 * do less work: node writes 16 uuid bytes and an int64 timestamp instead of formatting
 * strings, and the server skips parsing uuids and timestamps (the seed writes ~16M rows
 * for `large`, so per-field costs add up). Rows go into ~1 MiB chunks; a row may straddle
 * two chunks, which is fine because COPY data is one byte stream.
 *
 * Format: signature, flags, header extension; per row an int16 field count then per field
 * an int32 length (-1 = NULL) and the bytes; an int16 -1 trailer.
 */
const SIGNATURE = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
/** 2000-01-01T00:00:00Z, PostgreSQL's epoch for timestamps and dates. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 0x1_0000_0000;
const DAY_MS = 86_400_000;

export class BinaryCopyEncoder {
  readonly #chunkBytes: number;
  #buf: Buffer;
  #pos = 0;
  #full: Buffer[] = [];
  rows = 0;

  constructor(chunkBytes = 1 << 20) {
    this.#chunkBytes = chunkBytes;
    this.#buf = Buffer.allocUnsafe(chunkBytes);
    SIGNATURE.copy(this.#buf, 0);
    this.#buf.writeInt32BE(0, 11); // flags
    this.#buf.writeInt32BE(0, 15); // header extension length
    this.#pos = 19;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    if (this.#pos > 0) this.#full.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.allocUnsafe(Math.max(this.#chunkBytes, n));
    this.#pos = 0;
  }

  // Hand-written big-endian stores: Buffer#writeInt32BE validates its arguments on every
  // call, which shows up when it runs 100M times; callers have reserved the room already.
  #i32(v: number): void {
    const b = this.#buf;
    const p = this.#pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.#pos = p + 4;
  }

  /** True once at least one complete chunk is ready to send. */
  get hasFull(): boolean {
    return this.#full.length > 0;
  }

  /** Completed chunks; the one being filled stays. */
  takeFull(): Buffer[] {
    const out = this.#full;
    this.#full = [];
    return out;
  }

  /** Appends the trailer and returns everything not yet taken. */
  finish(): Buffer[] {
    this.#ensure(2);
    this.#pos = this.#buf.writeInt16BE(-1, this.#pos);
    this.#full.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.alloc(0);
    this.#pos = 0;
    return this.takeFull();
  }

  row(fields: number): this {
    this.#ensure(2);
    this.#buf[this.#pos] = fields >>> 8;
    this.#buf[this.#pos + 1] = fields;
    this.#pos += 2;
    this.rows++;
    return this;
  }

  null(): this {
    this.#ensure(4);
    this.#i32(-1);
    return this;
  }

  /** 16 raw uuid bytes taken from `src` at `offset`. */
  uuid(src: Buffer, offset: number): this {
    this.#ensure(20);
    this.#i32(16);
    // A loop beats Buffer#copy (a native call) for 16 bytes.
    const b = this.#buf;
    const p = this.#pos;
    for (let i = 0; i < 16; i++) b[p + i] = src[offset + i] as number;
    this.#pos = p + 16;
    return this;
  }

  /** timestamptz from Unix milliseconds: int64 microseconds since 2000-01-01 UTC. */
  timestamp(unixMs: number): this {
    this.#ensure(12);
    const us = (unixMs - PG_EPOCH_MS) * 1000; // < 2^53 until the year 2285
    const hi = Math.floor(us / TWO_32);
    this.#i32(8);
    this.#i32(hi);
    this.#i32(us - hi * TWO_32);
    return this;
  }

  /** timestamptz '-infinity' (DT_NOBEGIN = INT64_MIN). */
  minusInfinity(): this {
    this.#ensure(12);
    this.#i32(8);
    this.#i32(-0x8000_0000);
    this.#i32(0);
    return this;
  }

  /** date from Unix milliseconds (UTC day): int32 days since 2000-01-01. */
  date(unixMs: number): this {
    this.#ensure(8);
    this.#i32(4);
    this.#i32(Math.floor((unixMs - PG_EPOCH_MS) / DAY_MS));
    return this;
  }

  text(value: string): this {
    this.#ensure(4 + value.length * 3);
    const len = this.#buf.write(value, this.#pos + 4, 'utf8');
    this.#buf.writeInt32BE(len, this.#pos);
    this.#pos += 4 + len;
    return this;
  }

  /** Pre-encoded UTF-8 text (hot paths reuse encoded sentences instead of re-encoding). */
  textBytes(value: Buffer): this {
    const n = value.length;
    this.#ensure(4 + n);
    this.#i32(n);
    const b = this.#buf;
    const p = this.#pos;
    // Message texts are ~60 bytes: a plain loop beats both Buffer#copy and TypedArray#set there.
    if (n <= 128) for (let i = 0; i < n; i++) b[p + i] = value[i] as number;
    else b.set(value, p);
    this.#pos = p + n;
    return this;
  }

  /** jsonb from JSON text: a version byte (1) then the text. */
  jsonb(json: string): this {
    this.#ensure(5 + json.length * 3);
    const len = this.#buf.write(json, this.#pos + 5, 'utf8');
    this.#buf.writeInt32BE(len + 1, this.#pos);
    this.#buf[this.#pos + 4] = 1;
    this.#pos += 5 + len;
    return this;
  }

  /** jsonb from pre-encoded JSON bytes. */
  jsonbBytes(json: Buffer): this {
    this.#ensure(5 + json.length);
    this.#i32(json.length + 1);
    this.#buf[this.#pos++] = 1;
    this.#buf.set(json, this.#pos);
    this.#pos += json.length;
    return this;
  }

  bool(value: boolean): this {
    this.#ensure(5);
    this.#i32(1);
    this.#buf[this.#pos++] = value ? 1 : 0;
    return this;
  }

  int2(value: number): this {
    this.#ensure(6);
    this.#i32(2);
    this.#buf[this.#pos] = value >>> 8;
    this.#buf[this.#pos + 1] = value;
    this.#pos += 2;
    return this;
  }

  int4(value: number): this {
    this.#ensure(8);
    this.#i32(4);
    this.#i32(value);
    return this;
  }

  float8(value: number): this {
    this.#ensure(12);
    this.#i32(8);
    this.#pos = this.#buf.writeDoubleBE(value, this.#pos);
    return this;
  }
}
