import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chownToPostgres, isRoot } from './exec.ts';
import { realPath } from './processes.ts';

/** Where PostgreSQL data of stacks run as root lives: a folder per checkout. */
export const SHARED_PG_PARENT = '/var/lib/bgc';

/** Written into a /var/lib/bgc folder: which data folder it belongs to, for a human looking. */
const OWNER_FILE = 'DATA_DIR';

/** The data folder with symlinks resolved as far as it exists, so two spellings agree. */
function resolvedDataDir(dataDir: string): string {
  const abs = path.resolve(dataDir);
  let existing = abs;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  return path.join(realPath(existing), path.relative(existing, abs));
}

/**
 * The folder that holds this stack's PostgreSQL clusters.
 *
 * As root, PostgreSQL runs as the `postgres` user, which cannot enter a clone under /root or a
 * `mktemp -d` folder (mode 700). Rather than loosen those folders, the clusters live in
 * /var/lib/bgc/pg-<hash of the resolved data folder>: one folder per checkout, never shared.
 * A cluster already made inside the data folder (before this rule) stays where it is.
 * As any other user the servers run as that user and the data folder is theirs anyway.
 */
export function pgDataRoot(dataDir: string): string {
  const inDataDir = path.join(dataDir, 'pg');
  if (!isRoot() || fs.existsSync(path.join(inDataDir, 'primary', 'PG_VERSION'))) return inDataDir;
  const resolved = resolvedDataDir(dataDir);
  const hash = crypto.createHash('sha256').update(resolved).digest('hex').slice(0, 16);
  return path.join(SHARED_PG_PARENT, `pg-${hash}`);
}

/** Creates the clusters' folder, traversable and owned by the server's user. */
export function preparePgRoot(root: string, dataDir: string): void {
  if (path.dirname(root) === SHARED_PG_PARENT) {
    fs.mkdirSync(SHARED_PG_PARENT, { recursive: true });
    fs.chmodSync(SHARED_PG_PARENT, 0o755); // whatever the umask: postgres must pass through
  }
  fs.mkdirSync(root, { recursive: true });
  if (isRoot()) fs.chmodSync(root, 0o755);
  chownToPostgres(root);
  if (path.dirname(root) === SHARED_PG_PARENT) fs.writeFileSync(path.join(root, OWNER_FILE), `${resolvedDataDir(dataDir)}\n`);
}
