import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORPHAN_MIN_AGE_MS, sweepOrphanFiles, type ImageStore } from '../../src/jobs/orphan-files.job.ts';
import { ChatImageRepository } from '../../src/repositories/chat-images.repository.ts';
import { PhotoRepository } from '../../src/repositories/photos.repository.ts';
import { createStorage } from '../../src/storage/create-storage.ts';
import { registerUser, startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * The orphan-file sweep (src/jobs/orphan-files.job.ts) on the local store and real PostgreSQL:
 * files without a row, older than the minimum age, are deleted; a photo's files (its row
 * exists) and a young file (an upload may still be writing its row) are kept.
 */
let t: TestApp;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-orphans-'));
  t = await startTestApp('orphan_files', { BGC_CACHE_WARM_COUNT: '0', BGC_DATA_DIR: dataDir });
}, 60_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

function place(root: string, ownerId: string, id: string, at: Date): string[] {
  const files = [path.join(root, ownerId, id), path.join(root, ownerId, `${id}.thumb`)];
  fs.mkdirSync(path.join(root, ownerId), { recursive: true });
  for (const f of files) {
    fs.writeFileSync(f, 'not really an image');
    fs.utimesSync(f, at, at);
  }
  return files;
}

describe('orphan image files', () => {
  it('deletes files older than an hour without a row; keeps files with a row and young ones', async () => {
    const u = await registerUser(t, 'orph');
    const bytes = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#223344' } }).jpeg().toBuffer();
    const res = await t.app.inject({ method: 'POST', url: '/api/photos', payload: bytes, headers: { authorization: `Bearer ${u.token}`, 'content-type': 'image/jpeg' } });
    expect(res.statusCode, res.body).toBe(201);
    const photoId = (JSON.parse(res.body) as { id: string }).id;
    const photoRoot = path.join(t.rt.deps.config.dataDir, 'photos');
    const chatRoot = path.join(t.rt.deps.config.dataDir, 'chat-images');
    const photoFiles = [path.join(photoRoot, u.id, photoId), path.join(photoRoot, u.id, `${photoId}.thumb`)];
    for (const f of photoFiles) fs.utimesSync(f, hoursAgo(3), hoursAgo(3)); // old, but its row exists
    const oldOrphans = [...place(photoRoot, u.id, crypto.randomUUID(), hoursAgo(2)), ...place(chatRoot, u.id, crypto.randomUUID(), hoursAgo(2))];
    const youngOrphans = place(photoRoot, u.id, crypto.randomUUID(), new Date());
    // A half-written upload's temporary file is not a key: never listed, never deleted here.
    const tmp = path.join(photoRoot, u.id, `${crypto.randomUUID()}.tmp-1-2`);
    fs.writeFileSync(tmp, 'partial');

    const config = t.rt.deps.config;
    const photos = new PhotoRepository(t.rt.deps.db);
    const chatImages = new ChatImageRepository(t.rt.deps.db);
    const stores: ImageStore[] = [
      { name: 'photos', storage: createStorage(config.photoStorage, 'photos'), existingIds: (ids) => photos.existingIds(ids) },
      { name: 'chat-images', storage: createStorage(config.photoStorage, 'chat-images'), existingIds: (ids) => chatImages.existingIds(ids) },
    ];
    const started = Date.now();
    const removed = [];
    for (const s of stores) removed.push(await sweepOrphanFiles(s, ORPHAN_MIN_AGE_MS));
    console.log(`[orphan-files] swept in ${Date.now() - started} ms: removed ${JSON.stringify(removed)}`);

    expect(removed).toEqual([2, 2]);
    for (const f of oldOrphans) expect(fs.existsSync(f), f).toBe(false);
    for (const f of [...photoFiles, ...youngOrphans, tmp]) expect(fs.existsSync(f), f).toBe(true);
    // The photo still serves.
    const file = await t.app.inject({ method: 'GET', url: `/api/photos/${photoId}`, headers: { authorization: `Bearer ${u.token}`, 'x-bgc-lsn': String(res.headers['x-bgc-lsn'] ?? '0/0') } });
    expect(file.statusCode).toBe(200);
  });

  it('deletes nothing when most of a batch has no row (the app pointed at another database)', async () => {
    const root = path.join(t.rt.deps.config.dataDir, 'photos');
    const owner = crypto.randomUUID();
    const files = Array.from({ length: 60 }, () => place(root, owner, crypto.randomUUID(), hoursAgo(2))).flat();
    const photos = new PhotoRepository(t.rt.deps.db);
    const store: ImageStore = { name: 'photos', storage: createStorage(t.rt.deps.config.photoStorage, 'photos'), existingIds: (ids) => photos.existingIds(ids) };
    const err = await sweepOrphanFiles(store, ORPHAN_MIN_AGE_MS).then(() => undefined, (e: unknown) => e);
    expect(String(err)).toMatch(/120 of \d+ files have no row; refusing to delete them/);
    for (const f of files) expect(fs.existsSync(f), f).toBe(true);
    fs.rmSync(path.join(root, owner), { recursive: true, force: true });
  });
});
