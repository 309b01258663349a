import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PgNode } from '../../src/tools/stack/postgres-node.ts';

/**
 * A primary's folder that an interrupted initdb left (PG_VERSION written, bootstrap cut
 * short, none of our settings) is not a cluster: `stack up` makes it again instead of
 * skipping initdb and failing at pg_ctl start on every run from then on.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-primary-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('a primary folder', () => {
  it('with PG_VERSION alone exists but is not complete; with our settings appended it is', () => {
    const dir = path.join(root, 'primary');
    fs.mkdirSync(dir);
    const node = new PgNode({ name: 'primary', role: 'primary', port: 54999, dir, primaryPort: 54999 });
    expect(node.exists).toBe(false);
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '15\n');
    expect(node.exists).toBe(true);
    expect(node.primaryComplete, 'initdb cut short').toBe(false);
    fs.writeFileSync(path.join(dir, 'postgresql.conf'), "# initdb's own settings\nmax_connections = 100\n");
    expect(node.primaryComplete, 'initdb done, our settings not yet').toBe(false);
    fs.appendFileSync(path.join(dir, 'postgresql.conf'), '\n# --- bgc stack settings ---\nport = 54999\n');
    expect(node.primaryComplete).toBe(true);
  });
});
