import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processStartTime, withStackLock } from '../../src/tools/stack/stack-lock.ts';

/**
 * The stack lock's owner is a pid and that process's start time: a lock left by a process
 * whose pid now names another one (a reboot, a new container: even our own pid) is taken
 * over at once instead of being waited on for five minutes.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-stack-lock-'));
const lockFile = path.join(dir, '.stack.lock');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('stack lock', () => {
  it('takes over a lock whose pid is alive but started at another time (pid reused)', async () => {
    fs.writeFileSync(lockFile, `${process.pid} 1\n`);
    const started = Date.now();
    const ran = await withStackLock(dir, () => Promise.resolve('ran'), { waitMs: 5_000 });
    console.log(`[stack-lock] reused pid's lock taken over in ${Date.now() - started} ms`);
    expect(ran).toBe('ran');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('waits on a lock its live owner holds (same pid, same start time), then names the owner', async () => {
    const start = processStartTime(process.pid);
    expect(start).toMatch(/^\d+$/);
    fs.writeFileSync(lockFile, `${process.pid} ${start ?? ''}\n`);
    const waitedFor: number[] = [];
    const err = await withStackLock(dir, () => Promise.resolve('ran'), { waitMs: 300, onWait: (pid) => waitedFor.push(pid) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STACK_LOCKED' });
    expect(waitedFor).toEqual([process.pid]);
    fs.rmSync(lockFile);
  });
});
