import path from 'node:path';
import YAML from 'yaml';
import { serverSettings } from '../postgres-node.ts';
import type { HaLayout, HaMemberLayout } from './layout.ts';
import { onRoleChangeScriptFile } from './promotion-slots.ts';

/**
 * Patroni's cluster-wide settings (bootstrap.dcs, stored in etcd at bootstrap). Why each
 * value: docs/OPERATIONS.md, "High availability". The timing rule Patroni needs is
 * loop_wait + 2 × retry_timeout ≤ ttl: a leader that cannot reach etcd retries for
 * retry_timeout, twice, within one loop, and must give up (demote) before its lock expires
 * and a replica may take over, or two primaries could overlap.
 */
export const HA_SETTINGS = {
  /** Seconds the leader lock lives without renewal: the longest a dead leader keeps it. */
  ttl: 10,
  /** Seconds between Patroni's cycles (replicas also wake at once on a leader-key change). */
  loop_wait: 2,
  /** Seconds Patroni retries etcd and PostgreSQL before treating them as failed. */
  retry_timeout: 4,
  /** A replica further behind than this (bytes) may not become leader. */
  maximum_lag_on_failover: 1024 * 1024,
  /**
   * A crashed primary is not restarted in place when a synchronous standby can take over:
   * restarting in place could take crash-recovery time we cannot bound, failing over takes
   * at most the timings above, and the synchronous standby has every acknowledged commit.
   */
  primary_start_timeout: 0,
  /** Commits wait for one standby's flush, and only that standby may be promoted. */
  synchronous_mode: true,
  /**
   * With no standby left, refuse writes rather than run unprotected: we choose refusing
   * writes over risking acknowledged ones. With three members, one standby may be lost
   * without any effect on writes.
   */
  synchronous_mode_strict: true,
  synchronous_node_count: 1,
} as const;

/** Checked at module load: a change that breaks Patroni's timing rule fails every test. */
if (HA_SETTINGS.loop_wait + 2 * HA_SETTINGS.retry_timeout > HA_SETTINGS.ttl) {
  throw new Error('HA_SETTINGS: loop_wait + 2 × retry_timeout must not exceed ttl');
}

/**
 * Patroni talks to etcd through its v2 API (`etcd:`), not the v3 one (`etcd3:`), and etcd
 * runs with the v2 API switched on for it (src/tools/stack/ha/etcd.ts). Debian's Patroni 3.0.2
 * renews the leader key through v3 with an unconditional put once its lease has expired
 * (patroni/patroni PR #2689, fixed in 3.0.3): a leader whose Patroni was frozen past the ttl
 * overwrote the key of the replica promoted meanwhile, took the leadership back, and the
 * new leader's acknowledged writes were rewound away (76 lost in one SIGSTOP run, measured;
 * docs/RELIABILITY.md). The v2 code renews with compare-and-swap on its own name, so a
 * stale leader fails to renew and demotes. With Patroni ≥ 3.0.3, switch to 'etcd3'.
 */
export const DCS_SECTION: 'etcd' | 'etcd3' = 'etcd';

/** What replicas in HAProxy's replica port may lag behind the leader and still serve reads. */
export const REPLICA_MAX_LAG = '16MB';

/** Members of a local HA stack share one machine with the plain stack: smaller memory than §2's. */
const HA_MEMORY = { shared_buffers: '256MB', effective_cache_size: '2GB', maintenance_work_mem: '128MB' };

/** Settings the plain stack writes into postgresql.conf that Patroni owns itself. */
const OWNED_BY_PATRONI = new Set(['listen_addresses', 'port', 'unix_socket_directories', 'hot_standby', 'wal_level']);

/**
 * PostgreSQL parameters for every member, cluster-wide in etcd: the plain stack's settings
 * (src/tools/stack/postgres-node.ts, docs/OPERATIONS.md), pg_stat_statements preloaded included,
 * minus what Patroni manages itself, with the memory sized for three more servers.
 */
export function clusterParameters(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(serverSettings(0))) {
    if (OWNED_BY_PATRONI.has(k)) continue;
    out[k] = v.replace(/^'(.*)'$/, '$1'); // postgresql.conf quoting → plain YAML values
  }
  Object.assign(out, HA_MEMORY);
  // pg_rewind compares pages: it needs hint-bit changes in the WAL (checksums give that too).
  out.wal_log_hints = 'on';
  out.logging_collector = 'on';
  out.log_directory = 'log';
  out.log_filename = 'postgresql.log';
  return out;
}

/** Trust on loopback only: a local stack (DESIGN §2); the runbook shows the production lines. */
export const HA_PG_HBA = [
  'local all all trust',
  'host all all 127.0.0.1/32 trust',
  'host replication all 127.0.0.1/32 trust',
];

/** One member's patroni.yml. */
export function patroniConfig(layout: HaLayout, member: HaMemberLayout, binDir: string): string {
  const doc = {
    scope: layout.scope,
    namespace: '/bgc/',
    name: member.name,
    log: { level: 'INFO', dir: member.dir, file_num: 2, file_size: 16 * 1024 * 1024 },
    restapi: { listen: `127.0.0.1:${member.restPort}`, connect_address: `127.0.0.1:${member.restPort}` },
    [DCS_SECTION]: { hosts: layout.etcd.map((e) => `127.0.0.1:${e.clientPort}`) },
    bootstrap: {
      dcs: {
        ...HA_SETTINGS,
        postgresql: {
          use_pg_rewind: true,
          // Patroni creates, advances and drops a physical slot per member on the leader, and
          // keeps them on replicas too, so a promoted replica already holds its peers' slots.
          use_slots: true,
          parameters: clusterParameters(),
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums', { username: 'postgres' }],
      pg_hba: [...HA_PG_HBA],
    },
    postgresql: {
      listen: `127.0.0.1:${member.pgPort}`,
      connect_address: `127.0.0.1:${member.pgPort}`,
      data_dir: member.dataDir,
      bin_dir: binDir,
      pgpass: path.join(member.dir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres' },
        replication: { username: 'postgres' },
        rewind: { username: 'postgres' },
      },
      parameters: { unix_socket_directories: '/tmp' },
      pg_hba: [...HA_PG_HBA],
      basebackup: [{ checkpoint: 'fast' }],
      // Creates the peers' slots right after `pg_ctl promote` (promotion-slots.ts says why).
      callbacks: { on_role_change: onRoleChangeScriptFile(member) },
      // A stopped or demoted member may need minutes of crash recovery on a loaded machine.
      pg_ctl_timeout: 120,
    },
    watchdog: { mode: 'off' },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  // Patroni reads YAML 1.1, where a bare on/off is a boolean ('True' in postgresql.conf,
  // False for watchdog.mode): every string value goes out quoted.
  return YAML.stringify(doc, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
}
