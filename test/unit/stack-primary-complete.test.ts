import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PgNode } from '../../src/tools/stack/postgres-node.ts';

/**
 * A primary's folder that our own interrupted initdb left is made again by `stack up`; any
 * other folder is never deleted, whatever it lacks: a base backup copied in by hand (docs/
 * RELIABILITY.md) has PG_VERSION and none of our settings, exactly like a half-made one.
 * Only the sentinel initPrimary writes beside the folder before initdb (and removes after our
 * settings are in) tells the two apart.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-primary-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('a primary folder', () => {
  it('is half-made by us only while the initdb sentinel stands beside it', () => {
    const dir = path.join(root, 'primary');
    fs.mkdirSync(dir);
    const node = new PgNode({ name: 'primary', role: 'primary', port: 54999, dir, primaryPort: 54999 });
    // A copied-in cluster: PG_VERSION, someone else's postgresql.conf, no sentinel.
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '15\n');
    fs.writeFileSync(path.join(dir, 'postgresql.conf'), '# written by Patroni\n');
    expect(node.exists).toBe(true);
    expect(node.initInterrupted, 'a restored backup is never taken for a half-made folder').toBe(false);
    fs.writeFileSync(`${dir}.initdb-in-progress`, 'initdb by bgc stack up\n');
    expect(node.initInterrupted).toBe(true);
  });
});
