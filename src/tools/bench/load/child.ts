/**
 * The load generator process (forked by load/runner.ts). It is separate from the harness
 * and from the server under test so generating requests never competes with measuring
 * them on one event loop. Protocol over IPC: init {data} once, then run {job} → result,
 * as many times as the harness asks; it exits when the channel closes.
 */
import { EMPTY_BENCH_DATA, type BenchData } from '../data/bench-data.ts';
import { RequestFactory } from '../workloads/request-factory.ts';
import { runClosedLoop } from './closed-loop.ts';
import { runOpenLoop } from './open-loop.ts';
import type { InitMessage, LoadJob } from './types.ts';

let factory = new RequestFactory(EMPTY_BENCH_DATA);

function isInit(m: unknown): m is InitMessage {
  return typeof m === 'object' && m !== null && 'type' in m && m.type === 'init';
}
function isJob(m: unknown): m is LoadJob {
  return typeof m === 'object' && m !== null && 'type' in m && m.type === 'run';
}

process.on('message', (m: unknown) => {
  void (async () => {
    try {
      if (isInit(m)) {
        factory = new RequestFactory(m.data as BenchData);
        process.send?.({ type: 'ready' });
      } else if (isJob(m)) {
        const next = factory.generator(m.workload);
        next(); // fail fast (before connecting) if the data cannot serve this workload
        const result = m.mode === 'open' ? await runOpenLoop(m, next) : await runClosedLoop(m, next);
        process.send?.(result);
      }
    } catch (err) {
      process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
