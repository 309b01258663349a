import fs from 'node:fs/promises';
import path from 'node:path';
import type { PhotoStorage, StoredKey } from './photo-storage.ts';
import { StorageUnavailableError } from './storage-errors.ts';

const KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?$/;
/** What put() writes before its rename: `<key>.tmp-<pid>-<ms>`. */
const LEFTOVER = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?\.tmp-\d+-\d+$/;

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

  /** Files named as keys (a leftover `.tmp-*` is not one), owner folder by owner folder. */
  async *list(): AsyncIterable<StoredKey> {
    for (const owner of await readDir(this.root)) {
      for (const name of await readDir(path.join(this.root, owner))) {
        const key = `${owner}/${name}`;
        if (!KEY.test(key)) continue;
        const st = await fs.stat(path.join(this.root, key)).catch(() => null); // removed meanwhile
        if (st) yield { key, modifiedAt: st.mtime };
      }
    }
  }

  /**
   * `.tmp-*` files older than `before`: a process killed between writeFile and rename left
   * them (up to 8 MiB each), and list() skips them, so the orphan sweep never saw them.
   */
  async sweepLeftovers(before: Date): Promise<number> {
    let removed = 0;
    for (const owner of await readDir(this.root)) {
      for (const name of await readDir(path.join(this.root, owner))) {
        if (!LEFTOVER.test(`${owner}/${name}`)) continue;
        const file = path.join(this.root, owner, name);
        const st = await fs.stat(file).catch(() => null);
        if (!st || st.mtime >= before) continue;
        await fs.rm(file, { force: true }).catch((err: unknown) => { throw unavailable(err); });
        removed++;
      }
    }
    return removed;
  }

  /** Keys are made by the service from UUIDs; anything else is refused, so no key can leave the root. */
  #file(key: string): string {
    if (!KEY.test(key)) throw new Error(`invalid photo storage key: ${key}`);
    return path.join(this.root, key);
  }
}

/** A folder's entries; none when it does not exist (nothing stored yet). */
async function readDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw unavailable(err);
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
