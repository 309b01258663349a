import type { Logger } from '../logging/logger.ts';
import type { PhotoStorage, StoredKey } from '../storage/photo-storage.ts';
import type { JobSpec } from './scheduler.ts';

export const ORPHAN_FILES_JOB_NAME = 'images.orphan_files';

/**
 * A file is judged only once it is this old. An upload stores its files before its row (so a
 * reader never finds a row without files), and an upload's request is over in seconds
 * (requestTimeout 30 s): an hour leaves every upload in flight alone.
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60_000;
/** Keys checked against the database per query. */
const BATCH = 500;
/**
 * A batch where most files (and at least this many) have no row is not leftovers: it is the
 * app pointed at another database than the one the files belong to (a fresh one, a restore
 * elsewhere). The sweep then deletes nothing and fails, for an operator to look at.
 */
const SUSPICIOUS_ORPHANS = 100;

/** One kind of stored image: its store and how to ask which ids still have a row. */
export interface ImageStore {
  readonly name: string;
  readonly storage: PhotoStorage;
  readonly existingIds: (ids: readonly string[]) => Promise<Set<string>>;
}

export interface OrphanFilesDeps {
  readonly stores: readonly ImageStore[];
  /** Default hourly. */
  readonly intervalMs?: number;
  /** Overrides ORPHAN_MIN_AGE_MS (tests). */
  readonly minAgeMs?: number;
}

/**
 * Deletes image files whose row does not exist, leader-only. They are left by uploads whose
 * insert failed when it could not be known whether it committed (the files are kept then: a
 * row without files would answer 404 for good, src/services/photos/image-files.ts), by a
 * keyed retry whose own files could not be removed, and by a delete whose file removal failed
 * after the row went, and by rows gone by a cascade (a deleted user's photos). Only files older
 * than ORPHAN_MIN_AGE_MS, only when the database answers (a failed lookup deletes nothing), and
 * never when most of a batch looks orphaned (SUSPICIOUS_ORPHANS).
 */
export function orphanFilesJob(deps: OrphanFilesDeps): JobSpec {
  return {
    name: ORPHAN_FILES_JOB_NAME,
    intervalMs: deps.intervalMs ?? 60 * 60_000,
    leaderOnly: true,
    run: async ({ signal, logger }) => {
      for (const store of deps.stores) {
        const removed = await sweepOrphanFiles(store, deps.minAgeMs ?? ORPHAN_MIN_AGE_MS, signal, logger);
        if (removed > 0) logger.info({ job: ORPHAN_FILES_JOB_NAME, store: store.name, removed }, 'image files without a row deleted');
      }
    },
  };
}

/** One store's sweep; returns how many files it deleted. */
export async function sweepOrphanFiles(store: ImageStore, minAgeMs: number, signal?: AbortSignal, logger?: Logger): Promise<number> {
  const cutoff = Date.now() - minAgeMs;
  let removed = 0;
  let batch: StoredKey[] = [];
  const flush = async (): Promise<void> => {
    const ids = [...new Set(batch.map((k) => idOf(k.key)))];
    const kept = await store.existingIds(ids);
    const orphans = batch.filter((k) => !kept.has(idOf(k.key)));
    if (orphans.length >= SUSPICIOUS_ORPHANS && orphans.length > batch.length / 2) {
      throw new Error(`${store.name}: ${orphans.length} of ${batch.length} files have no row; refusing to delete them (is DATABASE_URL the database these files belong to?)`);
    }
    for (const k of orphans) {
      await store.storage.delete(k.key);
      removed++;
      logger?.debug({ store: store.name, key: k.key }, 'orphan image file deleted');
    }
    batch = [];
  };
  for await (const k of store.storage.list()) {
    if (signal?.aborted) return removed;
    if (k.modifiedAt.getTime() > cutoff) continue;
    batch.push(k);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0 && !signal?.aborted) await flush();
  return removed;
}

/** `<owner>/<id>` or `<owner>/<id>.thumb` → `<id>`. */
function idOf(key: string): string {
  return key.slice(key.indexOf('/') + 1).replace(/\.thumb$/, '');
}
