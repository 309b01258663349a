import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser, startTestApp, type ApiResponse, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';
import { lsnHeaders } from '../helpers/write-position.ts';
import { DbUnavailableError } from '../../src/db/errors.ts';

/**
 * Photos (issue 20) on the real stack: upload (type from the bytes, EXIF location
 * stripped, thumbnail), serving with caching headers, the gallery following the owner's
 * profile privacy, deletion, and bad uploads (wrong type, too large, truncated,
 * decompression bomb) refused with a code, leaving no file and no row.
 */
let t: TestApp;
let dataDir: string;
let photoRoot: string;

interface PhotoBody { id: string; owner_id: string; content_type: string; width: number; height: number; bytes: number; url: string; thumb_url: string }

async function upload(u: TestUser, body: Buffer, contentType: string, key?: string): Promise<ApiResponse<PhotoBody>> {
  const headers = { authorization: `Bearer ${u.token}`, 'content-type': contentType, ...(key ? { 'idempotency-key': key } : {}) };
  const res = await t.app.inject({ method: 'POST', url: '/api/photos', payload: body, headers });
  const lsn = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: JSON.parse(res.body) as PhotoBody, headers: res.headers, lsn: typeof lsn === 'string' ? lsn : undefined };
}

async function fetchFile(u: TestUser, url: string, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${u.token}`, ...headers } });
}

/** Files the storage holds for one owner (none once every upload of theirs failed). */
function filesOf(ownerId: string): string[] {
  const dir = path.join(photoRoot, ownerId);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

async function rowsOf(ownerId: string): Promise<number> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM photos WHERE owner_id = $1', [ownerId])).rows[0]?.n ?? -1;
  } finally {
    await admin.end();
  }
}

/** A JPEG carrying an EXIF GPS position (IFD3), as phones write them. */
function jpegWithLocation(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#3366aa' } }).jpeg()
    .withExif({ IFD0: { Make: 'Phone' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '40/1 26/1 46/1', GPSLongitudeRef: 'W', GPSLongitude: '79/1 58/1 56/1' } })
    .toBuffer();
}

/** The EXIF GPS IFD pointer tag (0x8825) in either byte order. */
const hasGpsTag = (exif: Buffer | undefined) => !!exif && (exif.includes(Buffer.from([0x88, 0x25])) || exif.includes(Buffer.from([0x25, 0x88])));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A tiny real PNG whose header claims width × height: a decompression bomb as far as any decoder can tell. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer());
  // Signature (8 bytes), then the IHDR chunk: length (4), type (4), width (4), height (4), …, CRC over type + data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

beforeAll(async () => {
  // A data directory of this file's own, removed at the end with every photo in it.
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-photos-'));
  t = await startTestApp('photos', { BGC_CACHE_WARM_COUNT: '0', BGC_DATA_DIR: dataDir });
  photoRoot = path.join(t.rt.deps.config.dataDir, 'photos');
  expect(photoRoot.startsWith(dataDir)).toBe(true);
}, 60_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('uploading photos', () => {
  it('stores a re-encoded image without its EXIF location, with a thumbnail, served with caching headers', async () => {
    const u = await registerUser(t, 'ph_up');
    const original = await jpegWithLocation(1200, 900);
    expect(hasGpsTag((await sharp(original).metadata()).exif)).toBe(true);
    // The declared type is wrong on purpose: the bytes decide.
    const res = await upload(u, original, 'image/png');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ owner_id: u.id, content_type: 'image/jpeg', width: 1200, height: 900 });

    const file = await fetchFile(u, res.body.url);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/jpeg');
    expect(file.headers['cache-control']).toBe('private, max-age=31536000, immutable');
    const stored = await sharp(file.rawPayload).metadata();
    expect(stored).toMatchObject({ format: 'jpeg', width: 1200, height: 900 });
    expect(stored.exif).toBeUndefined();
    expect(stored.xmp).toBeUndefined();
    expect(file.rawPayload.length).toBe(res.body.bytes);
    const again = await fetchFile(u, res.body.url, { 'if-none-match': String(file.headers.etag) });
    expect(again.statusCode).toBe(304);

    const thumb = await fetchFile(u, res.body.thumb_url);
    expect(thumb.headers['content-type']).toBe('image/webp');
    expect(await sharp(thumb.rawPayload).metadata()).toMatchObject({ format: 'webp', width: 320, height: 320 });

    // PNG and WebP too; a large image is scaled to 2048 on its longer side.
    const png = await upload(u, await sharp({ create: { width: 3000, height: 1000, channels: 4, background: '#ffffff80' } }).png().toBuffer(), 'image/png');
    expect(png.body).toMatchObject({ content_type: 'image/png', width: 2048, height: 683 });
    const webp = await upload(u, await sharp({ create: { width: 64, height: 48, channels: 3, background: '#0f0' } }).webp().toBuffer(), 'image/webp');
    expect(webp.body).toMatchObject({ content_type: 'image/webp', width: 64, height: 48 });
    expect(await rowsOf(u.id)).toBe(3);
    expect(filesOf(u.id).length).toBe(6);
  });

  it('with an Idempotency-Key, a retry answers the first photo again and keeps nothing of its own; other bytes with the key are 422', async () => {
    const u = await registerUser(t, 'ph_key');
    const bytes = await jpegWithLocation(64, 48);
    const key = `photo-${process.pid}-${Date.now()}`;
    const first = await upload(u, bytes, 'image/jpeg', key);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const retry = await upload(u, bytes, 'image/jpeg', key);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual(first.body);
    // A retry with a query parameter the route ignores (a cache-buster) is the same upload
    // (before: 422 IDEMPOTENCY_KEY_REUSED, the whole query was in the fingerprint).
    const busted = await t.app.inject({
      method: 'POST', url: `/api/photos?_=${Date.now()}`, payload: bytes,
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'image/jpeg', 'idempotency-key': key },
    });
    expect(busted.statusCode, busted.body).toBe(201);
    expect(busted.headers['idempotent-replayed']).toBe('true');
    expect(await rowsOf(u.id)).toBe(1);
    expect(filesOf(u.id).sort()).toEqual([first.body.id, `${first.body.id}.thumb`].sort());
    expectError(await upload(u, await jpegWithLocation(64, 49), 'image/jpeg', key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await rowsOf(u.id)).toBe(1);
    expect(filesOf(u.id)).toHaveLength(2);
  });

  it('refuses wrong types, oversized bodies, truncated files and decompression bombs with a code, leaving nothing behind', async () => {
    const u = await registerUser(t, 'ph_bad');
    const gif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#f00' } }).gif().toBuffer();
    expectError(await upload(u, gif, 'image/png'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await upload(u, Buffer.from('definitely not an image'), 'image/jpeg'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await upload(u, Buffer.from('{"a":1}'), 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // Any other body stops at the API's 64 KiB: before, the upload's 8 MiB limit applied to every
    // parser of the route, and 8 MiB of JSON was read and parsed before admission saw it.
    const bigJson = Buffer.from(`[${'[],'.repeat(40_000)}[]]`);
    expectError(await upload(u, bigJson, 'application/json'), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await upload(u, Buffer.alloc(100 * 1024, 0x61), 'text/plain'), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await upload(u, gif, 'image/gif'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await upload(u, Buffer.alloc(8 * 1024 * 1024 + 1, 0xff), 'image/jpeg'), 413, 'PAYLOAD_TOO_LARGE');

    const whole = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    expectError(await upload(u, whole.subarray(0, Math.floor(whole.length / 2)), 'image/jpeg'), 400, 'VALIDATION_FAILED');
    const wholePng = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
    expectError(await upload(u, wholePng.subarray(0, Math.floor(wholePng.length * 0.6)), 'image/png'), 400, 'VALIDATION_FAILED');

    const bomb = await pngClaiming(9000, 9000);
    expect(bomb.length).toBeLessThan(1000);
    expectError(await upload(u, bomb, 'image/png'), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await upload(u, await pngClaiming(20_000, 10), 'image/png'), 413, 'PAYLOAD_TOO_LARGE');

    expectError(await t.app.inject({ method: 'POST', url: '/api/photos', payload: gif, headers: { 'content-type': 'image/png' } })
      .then((r) => ({ status: r.statusCode, body: JSON.parse(r.body) as unknown, headers: r.headers, lsn: undefined })), 401, 'UNAUTHENTICATED');
    expect(await rowsOf(u.id)).toBe(0);
    expect(filesOf(u.id)).toEqual([]);
  });
});

describe('an upload whose row may have committed', () => {
  it('a connection lost after the insert committed leaves neither the row nor the files', async () => {
    const u = await registerUser(t, 'ph_lost');
    // The real insert commits, then the answer is lost (a failover, the client-side bound).
    const repo = (t.rt.deps.services.photos as unknown as { d: { photos: { insert(p: unknown): Promise<unknown> } } }).d.photos;
    const insert = repo.insert.bind(repo);
    repo.insert = async (p: unknown) => {
      await insert(p);
      throw new DbUnavailableError('DB_UNAVAILABLE', 'Connection terminated unexpectedly', 'primary');
    };
    let res: ApiResponse<PhotoBody>;
    try {
      res = await upload(u, await jpegWithLocation(64, 48), 'image/jpeg');
    } finally {
      repo.insert = insert;
    }
    expect(res.status).toBe(503);
    // Before: the files were removed and the committed row stayed, listed in the gallery and 404 for good.
    expect(await rowsOf(u.id)).toBe(0);
    expect(filesOf(u.id)).toEqual([]);
    expect((await upload(u, await jpegWithLocation(64, 48), 'image/jpeg')).status).toBe(201);
    expect(await rowsOf(u.id)).toBe(1);
  });

  it('with a key, a commit whose answer was lost keeps the row and the files, and the retry replays that photo', async () => {
    const u = await registerUser(t, 'ph_lost_key');
    const key = `lost-${process.pid}-${Date.now()}`;
    const bytes = await jpegWithLocation(64, 48);
    // The keyed insert's transaction commits (row and key record), then its answer is lost.
    const db = t.rt.deps.db as unknown as { transaction: (fn: unknown) => Promise<unknown> };
    const transaction = db.transaction.bind(db);
    db.transaction = async (fn: unknown) => {
      await transaction(fn);
      throw new DbUnavailableError('DB_UNAVAILABLE', 'Connection terminated unexpectedly', 'primary');
    };
    let first: ApiResponse<PhotoBody>;
    try {
      first = await upload(u, bytes, 'image/jpeg', key);
    } finally {
      db.transaction = transaction;
    }
    expect(first.status).toBe(503);
    // Before: the row was deleted under its committed key record, and the retry replayed a photo that was gone.
    expect(await rowsOf(u.id)).toBe(1);
    expect(filesOf(u.id)).toHaveLength(2);
    const retry = await upload(u, bytes, 'image/jpeg', key);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await rowsOf(u.id)).toBe(1);
    expect(filesOf(u.id).sort()).toEqual([retry.body.id, `${retry.body.id}.thumb`].sort());
    // A photo deleted since is not replayed as if it were there.
    expect((await t.call('DELETE', `/api/photos/${retry.body.id}`, { token: u.token })).status).toBe(200);
    expectError(await upload(u, bytes, 'image/jpeg', key), 404, 'NOT_FOUND');
    expect(filesOf(u.id)).toEqual([]);
  });

  it('a connection lost before the insert reached the server keeps the files (the insert might still commit), and writes no row', async () => {
    const u = await registerUser(t, 'ph_cut');
    const repo = (t.rt.deps.services.photos as unknown as { d: { photos: { insert(p: unknown): Promise<unknown> } } }).d.photos;
    const insert = repo.insert.bind(repo);
    repo.insert = async () => { throw new DbUnavailableError('DB_UNAVAILABLE', 'Query read timeout', 'primary'); };
    let res: ApiResponse<PhotoBody>;
    try {
      res = await upload(u, await jpegWithLocation(64, 48), 'image/jpeg');
    } finally {
      repo.insert = insert;
    }
    expect(res.status).toBe(503);
    expect(await rowsOf(u.id)).toBe(0);
    // Kept: deleting them would leave a row without files if a cut-off insert commits later.
    expect(filesOf(u.id).length).toBe(2);
  });
});

describe('concurrent uploads', () => {
  it('decode one at a time: past the few that may wait, an upload is refused with 503 OVERLOADED and leaves nothing', async () => {
    const u = await registerUser(t, 'ph_many');
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const results = await Promise.all(Array.from({ length: 16 }, () => upload(u, big, 'image/jpeg')));
    const statuses = results.map((r) => r.status);
    console.log(`16 concurrent uploads: ${JSON.stringify(statuses)}`);
    const refused = results.filter((r) => r.status === 503);
    // Before: all 16 decoded at once on the shared thread pool.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) {
      expect((r.body as unknown as { error: { code: string } }).error.code).toBe('OVERLOADED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    const stored = results.filter((r) => r.status === 201).length;
    expect(stored + refused.length).toBe(16);
    expect(await rowsOf(u.id)).toBe(stored);
    expect(filesOf(u.id).length).toBe(2 * stored);
  }, 60_000);
});

describe('galleries', () => {
  it("follow the owner's profile privacy and blocks; only the owner deletes", async () => {
    const [owner, friend, stranger] = await Promise.all([registerUser(t, 'ph_own'), registerUser(t, 'ph_fr'), registerUser(t, 'ph_str')]);
    const ids: string[] = [];
    // Another user reads the gallery next: they carry the owner's last write position
    // (X-BGC-LSN), or a lagging replica may not have the newest photo yet (a CI run under load).
    let ownerLsn: string | undefined;
    for (const side of [100, 200, 300]) {
      const r = await upload(owner, await sharp({ create: { width: side, height: side, channels: 3, background: '#123456' } }).jpeg().toBuffer(), 'image/jpeg');
      expect(r.status).toBe(201);
      ids.push(r.body.id);
      ownerLsn = r.lsn ?? ownerLsn;
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: ApiResponse<PageBody<PhotoBody>> = await t.call<PageBody<PhotoBody>>('GET', `/api/profiles/${owner.id}/photos?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: stranger.token, lsn: ownerLsn });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.items.map((p) => p.id));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...ids].reverse());

    // Friends only: the friend sees it, the stranger gets 403, for the list and the files.
    await t.call('POST', `/api/social/friend-request/${friend.id}`, { token: owner.token });
    expect((await t.call('POST', `/api/social/friend-request/${owner.id}/accept`, { token: friend.token })).status).toBe(200);
    const friendsOnly = await t.call('PUT', '/api/profiles/me', { token: owner.token, body: { privacy_level: 'friends' } });
    expect(friendsOnly.status).toBe(200);
    expect((await t.call('GET', `/api/profiles/${owner.id}/photos`, { token: friend.token })).status).toBe(200);
    expect((await fetchFile(friend, `/api/photos/${ids[0]}`)).statusCode).toBe(200);
    // The stranger's and (below) the friend's refusals come from the owner's writes, newer
    // than any of theirs: they read at the owner's position, or a lagging replica answers
    // with the old privacy (200) or without the block.
    expectError(await t.call('GET', `/api/profiles/${owner.id}/photos`, { token: stranger.token, lsn: friendsOnly.lsn }), 403, 'FORBIDDEN');
    expect((await fetchFile(stranger, `/api/photos/${ids[0]}`, lsnHeaders(friendsOnly.lsn))).statusCode).toBe(403);
    expect((await fetchFile(stranger, `/api/photos/${ids[0]}/thumb`, lsnHeaders(friendsOnly.lsn))).statusCode).toBe(403);

    // Blocked by the owner: as if there were no such profile.
    const block = await t.call('POST', `/api/social/block/${friend.id}`, { token: owner.token });
    expect(block.status).toBe(200);
    expectError(await t.call('GET', `/api/profiles/${owner.id}/photos`, { token: friend.token, lsn: block.lsn }), 404, 'NOT_FOUND');
    expect((await fetchFile(friend, `/api/photos/${ids[0]}`, lsnHeaders(block.lsn))).statusCode).toBe(404);

    // Deleting: only the owner; the row and both files go.
    expectError(await t.call('DELETE', `/api/photos/${ids[0]}`, { token: stranger.token }), 404, 'NOT_FOUND');
    const del = await t.call<{ deleted: boolean }>('DELETE', `/api/photos/${ids[0]}`, { token: owner.token });
    expect(del.body).toEqual({ id: ids[0], deleted: true });
    expectError(await t.call('DELETE', `/api/photos/${ids[0]}`, { token: owner.token }), 404, 'NOT_FOUND');
    expect((await fetchFile(owner, `/api/photos/${ids[0]}`, { 'x-bgc-lsn': del.lsn ?? '0/0' })).statusCode).toBe(404);
    expect(filesOf(owner.id).sort()).toEqual(ids.slice(1).flatMap((id) => [id, `${id}.thumb`]).sort());
    expect(await rowsOf(owner.id)).toBe(2);
  });
});
