import type { Logger } from '../logging/logger.ts';
import type { PhotoStorage } from '../storage/photo-storage.ts';
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
 * A store where most old files (and at least this many) have no row is not leftovers: it is
 * the app pointed at another database than the one the files belong to (a fresh one, a restore
 * elsewhere). The sweep then deletes nothing and fails, for an operator to look at.
 */
const SUSPICIOUS_ORPHANS = 100;
/** Orphans one run holds and deletes at most (memory); the next run takes the rest. */
const MAX_ORPHANS_PER_RUN = 50_000;

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
      // Each store on its own: one that refuses or fails does not keep the other unswept.
      const failures: string[] = [];
      for (const store of deps.stores) {
        try {
          const removed = await sweepOrphanFiles(store, deps.minAgeMs ?? ORPHAN_MIN_AGE_MS, signal, logger);
          if (removed > 0) logger.info({ job: ORPHAN_FILES_JOB_NAME, store: store.name, removed }, 'image files without a row deleted');
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
      }
      if (failures.length > 0) throw new Error(failures.join('; '));
    },
  };
}

/**
 * One store's sweep; returns how many files it deleted. The orphans are found first, over the
 * whole listing (at most MAX_ORPHANS_PER_RUN; the next run goes on), and judged as a whole: a
 * deleted user's files, listed side by side, fill a batch but not a store.
 */
export async function sweepOrphanFiles(store: ImageStore, minAgeMs: number, signal?: AbortSignal, logger?: Logger): Promise<number> {
  const cutoff = Date.now() - minAgeMs;
  let examined = 0;
  const orphans: string[] = [];
  let batch: string[] = [];
  const check = async (): Promise<void> => {
    const kept = await store.existingIds([...new Set(batch.map(idOf))]);
    for (const key of batch) if (!kept.has(idOf(key))) orphans.push(key);
    examined += batch.length;
    batch = [];
  };
  for await (const k of store.storage.list()) {
    if (signal?.aborted) return 0;
    // Only keys the app writes: a folder marker or a stray object is not ours to judge.
    if (!IMAGE_KEY.test(k.key) || k.modifiedAt.getTime() > cutoff) continue;
    batch.push(k.key);
    if (batch.length >= BATCH) await check();
    if (orphans.length >= MAX_ORPHANS_PER_RUN) break;
  }
  if (batch.length > 0) await check();
  // Interrupted writes' leftovers are no row's files: same age rule, no database question.
  const leftovers = signal?.aborted ? 0 : (await store.storage.sweepLeftovers?.(new Date(cutoff))) ?? 0;
  if (leftovers > 0) logger?.info({ store: store.name, leftovers }, 'files of interrupted writes deleted');
  if (orphans.length >= SUSPICIOUS_ORPHANS && orphans.length > examined / 2) {
    throw new Error(`${store.name}: ${orphans.length} of ${examined} files have no row; refusing to delete them (is DATABASE_URL the database these files belong to?)`);
  }
  let removed = 0;
  for (const key of orphans) {
    if (signal?.aborted) break;
    await store.storage.delete(key);
    removed++;
    logger?.debug({ store: store.name, key }, 'orphan image file deleted');
  }
  return removed;
}

/** `<owner>/<id>` or `<owner>/<id>.thumb`, both UUIDs (src/services/photos/image-files.ts). */
const IMAGE_KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?$/;

/** `<owner>/<id>` or `<owner>/<id>.thumb` → `<id>`. */
function idOf(key: string): string {
  return key.slice(key.indexOf('/') + 1).replace(/\.thumb$/, '');
}
