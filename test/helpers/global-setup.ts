import crypto from 'node:crypto';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { parseConfig } from '../../src/config/index.ts';
import { LocalStack } from '../../src/tools/stack/stack.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { migrate } from '../../src/db/migrator.ts';
import { PRIMARY_PORT, STACK_ENV } from './constants.ts';

declare module 'vitest' {
  export interface ProvidedContext { templateDb: string; runId: string }
}

/**
 * Starts the local stack unless it already runs, migrates a template database once per
 * run, and at the end drops this run's databases and stops the stack if it started it.
 * Each test file clones the template (CREATE DATABASE … TEMPLATE), well under a second.
 * Names carry a run id so two test runs on one machine never touch each other's data.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = parseConfig({ NODE_ENV: 'test', ...STACK_ENV });
  const stack = new LocalStack(config);
  const before = await stack.status();
  // Stop the stack at the end only if this run found it entirely down: a node that is
  // briefly stopped by someone else's test must not make us tear down a shared stack.
  const wasRunning = before.some((n) => n.state !== 'stopped' && n.state !== 'absent');
  await stack.up(() => undefined);

  const runId = crypto.randomBytes(3).toString('hex');
  const templateDb = `bgc_test_${runId}_template`;
  const admin = await connectNode(PRIMARY_PORT);
  try {
    await admin.query(`CREATE DATABASE ${templateDb}`);
  } finally {
    await admin.end();
  }
  const tpl = await connectNode(PRIMARY_PORT, templateDb);
  try {
    await migrate(tpl, path.join(config.projectRoot, 'migrations'));
  } finally {
    await tpl.end();
  }
  project.provide('templateDb', templateDb);
  project.provide('runId', runId);

  return async () => {
    const c = await connectNode(PRIMARY_PORT);
    try {
      const dbs = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`bgc_test_${runId}_%`]);
      for (const r of dbs.rows) await c.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
    if (!wasRunning) await stack.down();
  };
}
