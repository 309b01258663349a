import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildHaLayout, defaultHaPorts, type HaLayout, type HaMemberLayout } from '../../src/tools/stack/ha/layout.ts';
import { memberSlotName, onRoleChangeScript, onRoleChangeScriptFile } from '../../src/tools/stack/ha/promotion-slots.ts';

const sh = promisify(execFile);

/**
 * The promotion callback (src/tools/stack/ha/promotion-slots.ts) run by sh with a stand-in
 * psql that records its arguments: what it asks PostgreSQL for on a promotion, and that it
 * does nothing on any other role change. The real thing runs in test/chaos/ha-failover.test.ts
 * (its trace prints "peers' slots … ensured (psql exit 0)").
 */
let dir: string;
let layout: HaLayout;
let member: HaMemberLayout;
let binDir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ha-slots-'));
  layout = buildHaLayout(dir, defaultHaPorts(0));
  member = layout.members[1] as HaMemberLayout;
  fs.mkdirSync(member.dir, { recursive: true });
  binDir = path.join(dir, 'bin');
  fs.mkdirSync(binDir);
  fs.writeFileSync(path.join(binDir, 'psql'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${path.join(dir, 'psql-args')}'\n`, { mode: 0o755 });
  fs.writeFileSync(onRoleChangeScriptFile(member), onRoleChangeScript(layout, member, binDir), { mode: 0o700 });
});

afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('HA promotion callback: the peers replication slots', () => {
  it("on a promotion, asks the member's own server to create each peer's slot if missing, and logs it", async () => {
    await sh(onRoleChangeScriptFile(member), ['on_role_change', 'master', 'bgc-ha']);
    const args = fs.readFileSync(path.join(dir, 'psql-args'), 'utf8').split('\n');
    expect(args).toEqual(expect.arrayContaining(['-h', '/tmp', '-p', String(member.pgPort), '-U', 'postgres']));
    const statements = args.filter((a) => a.startsWith('SELECT'));
    expect(statements).toHaveLength(2);
    for (const slot of ['pg1', 'pg3']) {
      expect(statements.some((s) => s.includes(`pg_create_physical_replication_slot('${slot}', true)`) && s.includes(`WHERE slot_name = '${slot}'`)), slot).toBe(true);
    }
    expect(statements.some((s) => s.includes("'pg2'")), 'no slot for itself').toBe(false);
    expect(fs.readFileSync(path.join(member.dir, 'callbacks.log'), 'utf8')).toMatch(/^\S+Z promoted: peers' slots pg1, pg3 ensured \(psql exit 0\)\n$/);
  });

  it('does nothing on any other role change', async () => {
    for (const role of ['replica', 'demoted', 'standby_leader']) await sh(onRoleChangeScriptFile(member), ['on_role_change', role, 'bgc-ha']);
    expect(fs.existsSync(path.join(dir, 'psql-args'))).toBe(false);
    expect(fs.existsSync(path.join(member.dir, 'callbacks.log'))).toBe(false);
  });

  it("names slots as Patroni does, and refuses a member name that would need Patroni's encoding", () => {
    expect(memberSlotName('PG-1.local')).toBe('pg_1_local');
    expect(() => memberSlotName('pg 1')).toThrow(/slot name/);
  });
});
