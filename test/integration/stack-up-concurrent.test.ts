import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { LocalStack } from '../../src/tools/stack/stack.ts';
import { freePort } from '../helpers/free-port.ts';

/**
 * Two `stack up`s at once on one folder (`bgc serve` starting the stack while `bgc stack up`
 * runs, two terminals). Before: both ran initdb and pg_basebackup into the same folders, and
 * one failed (or left a replica that never streamed). Now the second waits for the first's
 * lock and then finds everything up. A private stack on free ports.
 */
const base = parseConfig({ NODE_ENV: 'test' });
const dataDir = path.join(base.projectRoot, '.data', 'test-stacks', `concurrent-${crypto.randomBytes(3).toString('hex')}`);
let first: LocalStack | undefined;

afterAll(async () => {
  await first?.down({ purge: true }).catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

describe('stack up twice at once', () => {
  it('both finish, one after the other, with a primary and a streaming replica', async () => {
    const layout = { dataDir, primaryPort: await freePort(), replicaPorts: [await freePort()], redisPort: await freePort(), database: 'bgc' };
    first = new LocalStack(base, layout);
    const second = new LocalStack(base, layout);
    const steps: string[] = [];
    const t0 = Date.now();
    const results = await Promise.allSettled([first.up((m) => steps.push(`1: ${m}`)), second.up((m) => steps.push(`2: ${m}`))]);
    console.log(`[stack-up-concurrent] ${Date.now() - t0} ms: ${steps.join('; ')}`);
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    const st = await first.status();
    expect(st.map((n) => `${n.name} ${n.state}`)).toEqual(expect.arrayContaining(['primary running', 'replica1 streaming']));
    // Exactly one initdb happened, and the lock is gone.
    expect(steps.filter((m) => m.includes('initdb')).length).toBe(1);
    expect(fs.existsSync(path.join(dataDir, '.stack.lock'))).toBe(false);
  }, 180_000);
});
