import type { QueryDef } from './types.ts';

/**
 * All catalog entries by name. Repositories register their entries at import time via
 * `catalog(...)`; `allQueries()` imports every repository so the audit sees them all.
 */
const entries = new Map<string, QueryDef>();

export function catalog<T extends Record<string, QueryDef>>(defs: T): T {
  for (const def of Object.values(defs)) {
    const existing = entries.get(def.name);
    if (existing && existing !== def) throw new Error(`duplicate catalog entry ${def.name}`);
    entries.set(def.name, def);
  }
  return defs;
}

export function registeredQueries(): QueryDef[] {
  return [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
}
