import fs from 'node:fs';
import path from 'node:path';

/**
 * Whose folder is the stack's data folder. `bgc stack down --purge` deletes a whole folder only
 * when `up` made it: one that did not exist or was empty when `up` first ran, which `up` marks.
 * Until 2026-12-07 `up` marked any folder, so `BGC_DATA_DIR=/srv/work` (a folder with other
 * files in it, or `.`) was deleted whole by the purge.
 */
export const DATA_DIR_MARKER = '.bgc-data-dir';
/** What a folder may hold and still be new: the lock file of the `up` (stack-lock.ts) that is about to mark it. */
const NOT_CONTENT = new Set(['.stack.lock', DATA_DIR_MARKER]);

/** Read before `up` takes its lock (which creates the folder): absent, empty, or already marked. */
export function folderIsOurs(dir: string): boolean {
  if (!fs.existsSync(dir)) return true;
  const entries = fs.readdirSync(dir);
  return entries.includes(DATA_DIR_MARKER) || entries.every((e) => NOT_CONTENT.has(e));
}

export function markFolder(dir: string): void {
  fs.writeFileSync(path.join(dir, DATA_DIR_MARKER), 'made by `bgc stack up`; `bgc stack down --purge` deletes this folder\n');
}

export function isMarked(dir: string): boolean {
  return fs.existsSync(path.join(dir, DATA_DIR_MARKER));
}
