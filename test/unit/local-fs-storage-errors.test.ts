import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFsStorage } from '../../src/storage/local-fs-storage.ts';
import { StorageUnavailableError } from '../../src/storage/storage-errors.ts';

/**
 * File-system failures other than a missing file (a full disk, too many open files, a
 * root that is not a directory) are the store being unavailable: StorageUnavailableError,
 * which the API answers with 503 and Retry-After. Before, they surfaced as raw errors: 500.
 * Run as root, so permissions cannot be used to make one; a root that is a file gives ENOTDIR.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-fs-storage-'));
const KEY = '0190a0b0-0000-7000-8000-000000000000/0190a0b0-0000-7000-8000-000000000001';

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('local photo storage errors', () => {
  it('a store that cannot be written or read is unavailable (503), a missing file is null (404)', async () => {
    const good = new LocalFsStorage(path.join(dir, 'good'));
    expect(await good.get(KEY)).toBeNull();
    await good.put(KEY, Buffer.from('x'));
    expect((await good.get(KEY))?.toString()).toBe('x');

    const notADirectory = path.join(dir, 'a-file');
    fs.writeFileSync(notADirectory, 'not a directory');
    const broken = new LocalFsStorage(notADirectory);
    await expect(broken.put(KEY, Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(broken.get(KEY)).rejects.toBeInstanceOf(StorageUnavailableError);
  });
});
