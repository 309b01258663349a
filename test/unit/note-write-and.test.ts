import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { noteWriteAnd } from '../../src/services/support.ts';

/** A router stand-in that records the order of events: only the two calls noteWriteAnd makes. */
function fakeDb(lsn: string | Error, events: string[]): Database {
  const router = {
    async writtenLsn(): Promise<string | undefined> {
      events.push('lsn');
      if (lsn instanceof Error) throw lsn;
      return lsn;
    },
    async markWrites(userIds: readonly string[], at: string): Promise<void> {
      events.push(`mark start ${userIds.join(',')} ${at}`);
      await new Promise((r) => setTimeout(r, 10));
      events.push('mark end');
    },
  };
  return { router } as unknown as Database;
}

const warnings: unknown[] = [];
const logger = { warn: (o: unknown) => { warnings.push(o); } } as unknown as Logger;

describe('noteWriteAnd: a write\'s announcement runs alongside its read-your-writes mark', () => {
  it('hands the LSN to both, starts the announcement before the mark has finished, and returns after both', async () => {
    const events: string[] = [];
    const lsn = await noteWriteAnd(fakeDb('0/16B3748', events), logger, 'u1', async (at) => {
      events.push(`announce start ${at}`);
      await new Promise((r) => setTimeout(r, 5));
      events.push('announce end');
    });
    expect(lsn).toBe('0/16B3748');
    expect(events).toEqual(['lsn', 'mark start u1 0/16B3748', 'announce start 0/16B3748', 'announce end', 'mark end']);
  });

  it('without an LSN (the fetch failed) still announces, with none, marks nobody and logs', async () => {
    const events: string[] = [];
    warnings.length = 0;
    const lsn = await noteWriteAnd(fakeDb(new Error('primary gone'), events), logger, 'u1', async (at) => { events.push(`announce ${String(at)}`); });
    expect(lsn).toBeUndefined();
    expect(events).toEqual(['lsn', 'announce undefined']);
    expect(warnings).toHaveLength(1);
  });

  it('fails when the announcement fails, as a hook after the mark did', async () => {
    await expect(noteWriteAnd(fakeDb('0/1', []), logger, 'u1', async () => { throw new Error('hook refused'); })).rejects.toThrow('hook refused');
  });
});
