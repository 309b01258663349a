import fs from 'node:fs/promises';
import path from 'node:path';
import type { PhotoStorage } from './photo-storage.ts';
import { StorageUnavailableError } from './storage-errors.ts';

const KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?$/;

/**
 * Photos as files under one directory (`<data dir>/photos` by default). A file is written
 * to a temporary name and renamed into place, so a reader never sees half a file and a
 * crash leaves at most a `.tmp-*` file, never a truncated photo under its real name.
 */
export class LocalFsStorage implements PhotoStorage {
  constructor(private readonly root: string) {}

  async put(key: string, bytes: Buffer): Promise<void> {
    const file = this.#file(key);
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(tmp, bytes, { flag: 'wx' });
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw unavailable(err);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.#file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(err);
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.#file(key), { force: true }).catch((err: unknown) => { throw unavailable(err); });
  }

  /** Keys are made by the service from UUIDs; anything else is refused, so no key can leave the root. */
  #file(key: string): string {
    if (!KEY.test(key)) throw new Error(`invalid photo storage key: ${key}`);
    return path.join(this.root, key);
  }
}

/**
 * A full disk (ENOSPC), too many open files (EMFILE), a permission or I/O error: the store
 * cannot serve now, which is a 503 with Retry-After (as for S3), not a 500.
 */
function unavailable(err: unknown): Error {
  if (err instanceof StorageUnavailableError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? (err as Error) : new StorageUnavailableError(`The photo store is unavailable: ${code}`, { cause: err });
}
