import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registeredQueries } from './registry.ts';
import type { QueryDef } from './types.ts';

const srcRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

/**
 * Every catalog entry of the app: imports each `*.repository.ts` under src/ (their
 * `catalog({...})` calls register the entries) plus the db layer's own statements.
 */
export async function allQueries(): Promise<QueryDef[]> {
  await import('../db/system-queries.ts');
  for (const file of walk(srcRoot).filter((f) => f.endsWith('.repository.ts')).sort()) {
    await import(pathToFileURL(file).href);
  }
  return registeredQueries();
}
