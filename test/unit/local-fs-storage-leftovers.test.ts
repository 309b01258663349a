import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepOrphanFiles } from '../../src/jobs/orphan-files.job.ts';
import { LocalFsStorage } from '../../src/storage/local-fs-storage.ts';

/**
 * A process killed between writing a photo's temporary file and renaming it leaves
 * `<key>.tmp-<pid>-<ms>` behind. list() skips it (it is no key), so the orphan sweep never
 * saw it and it stayed for good; the sweep now removes those past the same age as orphans.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-fs-leftovers-'));
const OWNER = '0190a0b0-0000-7000-8000-000000000000';
const ID = '0190a0b0-0000-7000-8000-000000000001';
const HOUR_MS = 3_600_000;

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function leftover(name: string, ageMs: number): string {
  const file = path.join(dir, OWNER, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'half a photo');
  const at = new Date(Date.now() - ageMs);
  fs.utimesSync(file, at, at);
  return file;
}

describe('leftovers of interrupted writes in the local photo store', () => {
  it('the orphan sweep removes old .tmp files and keeps fresh ones, the photo and anything not ours', async () => {
    const storage = new LocalFsStorage(dir);
    await storage.put(`${OWNER}/${ID}`, Buffer.from('a photo'));
    const old = leftover(`${ID}.tmp-4242-${Date.now() - 2 * HOUR_MS}`, 2 * HOUR_MS);
    const oldThumb = leftover(`${ID}.thumb.tmp-4242-${Date.now() - 2 * HOUR_MS}`, 2 * HOUR_MS);
    const fresh = leftover(`${ID}.tmp-4243-${Date.now()}`, 0);
    const stranger = leftover('notes.txt', 2 * HOUR_MS);
    const removed = await sweepOrphanFiles({ name: 'photos', storage, existingIds: async (ids) => new Set(ids) }, HOUR_MS);
    expect(removed, 'no photo is an orphan').toBe(0);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(oldThumb)).toBe(false);
    expect(fs.existsSync(fresh), 'a write may still be in flight').toBe(true);
    expect(fs.existsSync(stranger)).toBe(true);
    expect((await storage.get(`${OWNER}/${ID}`))?.toString()).toBe('a photo');
  });
});
