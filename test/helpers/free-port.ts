// One implementation of "find a free port": the bench harness's.
export { freePort } from '../../src/tools/bench/free-port.ts';
