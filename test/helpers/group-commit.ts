import { expect } from 'vitest';
import type { WriteBatcherStats } from '../../src/services/write-batcher.ts';

/** A writer's group counters (e.g. `chat.sendGroups`, `feed.commentGroups`) move by exactly this much while `fn` runs. */
export async function inGroups<T>(stats: () => WriteBatcherStats, groups: number, members: number, fn: () => Promise<T>): Promise<T> {
  const before = stats();
  const out = await fn();
  const after = stats();
  expect({ groups: after.groups - before.groups, members: after.members - before.members }).toEqual({ groups, members });
  return out;
}

/** The `code` of a typed error (AppError, DbError), or undefined. */
export function codeOf(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
