import { parseConfig } from '../../src/config/index.ts';

/**
 * The settings that place the shared test stack, taken from the environment so that
 * `BGC_STACK_PORT_OFFSET=100 BGC_DATA_DIR=… npx vitest run …` runs against a second stack
 * beside the dev one. Only these two: a DATABASE_URL in the shell must not steer tests.
 */
export const STACK_ENV: Record<string, string | undefined> = {
  BGC_STACK_PORT_OFFSET: process.env.BGC_STACK_PORT_OFFSET,
  BGC_DATA_DIR: process.env.BGC_DATA_DIR,
};

const ports = parseConfig({ NODE_ENV: 'test', ...STACK_ENV }).stack;

export const PRIMARY_PORT = ports.primaryPort;
export const REPLICA_PORTS = ports.replicaPorts;
export const REDIS_PORT = ports.redisPort;

/**
 * The date the run believes it is, when the date sweep runs it (test/dates/sweep.ts), else
 * undefined. A test that checks nothing about the calendar and costs much under libfaketime
 * (a CLI process started under it) skips there; the ordinary run keeps it.
 */
export const SWEEP_DATE: string | undefined = process.env.BGC_SWEEP_DATE;
