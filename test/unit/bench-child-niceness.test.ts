import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EMPTY_BENCH_DATA } from '../../src/tools/bench/data/bench-data.ts';
import { LoadGenerator } from '../../src/tools/bench/load/runner.ts';
import { nicenessOf } from '../../src/tools/bench/processes.ts';

/**
 * The overload scenario's probe stands for a client on another machine and runs at a higher
 * priority; Linux keeps a niceness per thread, so every thread of the child must have it, not
 * only the one a renice of its pid reaches. Raising niceness needs no privilege, so the test
 * asks for +7 (lowering it, as the probe does, needs root).
 */
describe('a bench child started with a niceness', () => {
  it('runs every one of its threads at that niceness, and one started without it at the harness\'s', async () => {
    const own = nicenessOf(process.pid);
    const niced = await LoadGenerator.start(EMPTY_BENCH_DATA, 7);
    const plain = await LoadGenerator.start(EMPTY_BENCH_DATA);
    try {
      const pid = niced.pid!;
      const threads = readdirSync(`/proc/${pid}/task`);
      expect(threads.length).toBeGreaterThan(1);
      expect(threads.map((tid) => nicenessOf(Number(tid)))).toEqual(threads.map(() => 7));
      expect(nicenessOf(plain.pid!)).toBe(own);
    } finally {
      await niced.stop();
      await plain.stop();
    }
  }, 60_000);
});
