import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { run } from '../../src/tools/stack/exec.ts';
import { haproxyConfig } from '../../src/tools/stack/ha/haproxy.ts';
import { buildHaLayout, defaultHaPorts, HA_PORTS, type HaPorts } from '../../src/tools/stack/ha/layout.ts';
import { ETCD_TIMING, PATRONI_PER_HOST_TIMEOUT_MS } from '../../src/tools/stack/ha/etcd.ts';
import { DCS_SECTION, HA_SETTINGS, patroniConfig } from '../../src/tools/stack/ha/patroni-config.ts';

const allPorts = (p: HaPorts): number[] => [...p.postgres, ...p.patroniRest, ...p.etcdClient, ...p.etcdPeer, p.haproxyPrimary, p.haproxyReplicas, p.haproxyStats];

describe('HA stack settings (src/tools/stack/ha)', () => {
  it("keep Patroni's timing rule: loop_wait + 2 × retry_timeout ≤ ttl", () => {
    expect(HA_SETTINGS.loop_wait + 2 * HA_SETTINGS.retry_timeout).toBeLessThanOrEqual(HA_SETTINGS.ttl);
    expect(HA_SETTINGS.synchronous_mode).toBe(true);
    expect(HA_SETTINGS.synchronous_mode_strict).toBe(true);
  });

  it("keep etcd's leaderless window (up to two election timeouts) inside Patroni's time for one etcd host", () => {
    expect(PATRONI_PER_HOST_TIMEOUT_MS).toBeCloseTo(1_333, 0);
    expect(2 * ETCD_TIMING.electionTimeoutMs).toBeLessThan(PATRONI_PER_HOST_TIMEOUT_MS);
    expect(ETCD_TIMING.electionTimeoutMs).toBeGreaterThanOrEqual(10 * ETCD_TIMING.heartbeatMs);
  });

  it("use DESIGN §7's ports, and an offset of 100 shares no port with the default stack or the plain stack", () => {
    const p0 = defaultHaPorts(0);
    expect(p0.postgres).toEqual([54330, 54331, 54332]);
    expect(p0.patroniRest).toEqual([8008, 8009, 8010]);
    expect(p0.etcdClient).toEqual([2379, 2479, 2579]);
    expect(p0.etcdPeer).toEqual([2380, 2480, 2580]);
    expect([p0.haproxyPrimary, p0.haproxyReplicas, p0.haproxyStats]).toEqual([HA_PORTS.haproxyPrimary, 54341, 54349]);
    const plain = (o: number): number[] => [54320 + o, 54321 + o, 54322 + o, 63790 + o];
    for (const offset of [100, 200, 500, 1000]) {
      const p = allPorts(defaultHaPorts(offset));
      expect(new Set(p).size, `offset ${offset}: distinct ports`).toBe(p.length);
      for (const other of [0, offset - 100]) {
        const taken = new Set([...allPorts(defaultHaPorts(other)), ...plain(other), ...plain(offset)]);
        expect(p.filter((x) => taken.has(x)), `offset ${offset} against ${other}`).toEqual([]);
      }
    }
  });

  it("write a patroni.yml with the chosen settings, Patroni-owned slots, pg_stat_statements preloaded and loopback-only trust", () => {
    const layout = buildHaLayout('/tmp/ha-unit', defaultHaPorts(0));
    const member = layout.members[1];
    if (!member) throw new Error('no member');
    const doc = YAML.parse(patroniConfig(layout, member, '/usr/lib/postgresql/15/bin')) as {
      name: string; restapi: { listen: string }; postgresql: { listen: string; data_dir: string; pg_hba: string[] };
      bootstrap: { dcs: Record<string, unknown> & { postgresql: { use_pg_rewind: boolean; use_slots: boolean; parameters: Record<string, string> } } };
    } & Record<string, { hosts: string[] } | undefined>;
    expect(doc.name).toBe('pg2');
    expect(doc.restapi.listen).toBe('127.0.0.1:8009');
    expect(doc.postgresql.listen).toBe('127.0.0.1:54331');
    expect(doc[DCS_SECTION]?.hosts).toEqual(['127.0.0.1:2379', '127.0.0.1:2479', '127.0.0.1:2579']);
    const { dcs } = doc.bootstrap;
    for (const [k, v] of Object.entries(HA_SETTINGS)) expect(dcs[k], k).toBe(v);
    expect(dcs.postgresql.use_pg_rewind).toBe(true);
    expect(dcs.postgresql.use_slots).toBe(true);
    expect(dcs.postgresql.parameters.shared_preload_libraries).toContain('pg_stat_statements');
    // Patroni manages these itself; a value here would fight it.
    for (const k of ['port', 'listen_addresses', 'unix_socket_directories']) expect(dcs.postgresql.parameters[k], k).toBeUndefined();
    expect(doc.postgresql.pg_hba.every((l) => l.startsWith('local ') || l.includes('127.0.0.1/32'))).toBe(true);
  });

  it('write an HAProxy configuration that HAProxy accepts, checking /primary and /replica through Patroni', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ha-unit-'));
    try {
      const layout = buildHaLayout(dir, defaultHaPorts(0));
      const cfg = haproxyConfig(layout);
      expect(cfg).toContain('http-check send meth OPTIONS uri /primary');
      expect(cfg).toMatch(/http-check send meth OPTIONS uri \/replica\?lag=/);
      expect(cfg).toContain('on-marked-down shutdown-sessions');
      // A vanished client (the job leader's host) is found by keepalive in about 25 s, not after `timeout client`.
      expect(cfg).toMatch(/option clitcpka\n\s+clitcpka-idle 10s\n\s+clitcpka-intvl 5s\n\s+clitcpka-cnt 3/);
      for (const m of layout.members) expect(cfg).toContain(`server ${m.name} 127.0.0.1:${m.pgPort} check port ${m.restPort}`);
      const file = path.join(dir, 'haproxy.cfg');
      fs.writeFileSync(file, cfg);
      const res = await run('/usr/sbin/haproxy', ['-c', '-f', file], { allowFail: true });
      expect(res.code, res.output).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('BGC_PATRONI_URLS', () => {
  it('takes a list of http URLs; the plain stack replicas are then not added by default', () => {
    const c = parseConfig({ BGC_PATRONI_URLS: 'http://127.0.0.1:8008, http://127.0.0.1:8009' });
    expect(c.database.patroniUrls).toEqual(['http://127.0.0.1:8008', 'http://127.0.0.1:8009']);
    expect(c.database.replicaUrls).toEqual([]);
    expect(parseConfig({}).database.patroniUrls).toEqual([]);
  });

  it('refuses what is not an http URL, naming the variable', () => {
    expect(() => parseConfig({ BGC_PATRONI_URLS: 'postgres://x:5432' })).toThrow(ConfigError);
    expect(() => parseConfig({ BGC_PATRONI_URLS: 'not a url' })).toThrow(/BGC_PATRONI_URLS/);
  });
});
