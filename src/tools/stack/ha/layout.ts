import crypto from 'node:crypto';
import path from 'node:path';
import type { Config } from '../../../config/index.ts';
import { isRoot } from '../exec.ts';
import { SHARED_PG_PARENT } from '../pg-location.ts';

/** DESIGN §7's ports for the high-availability stack, before BGC_STACK_PORT_OFFSET. */
export const HA_PORTS = {
  postgres: [54330, 54331, 54332],
  patroniRest: [8008, 8009, 8010],
  /** etcd client ports; each member's peer port is its client port + 1. */
  etcdClient: [2379, 2479, 2579],
  haproxyPrimary: 54340,
  haproxyReplicas: 54341,
  haproxyStats: 54349,
} as const;

export interface HaMemberLayout {
  readonly name: string;
  readonly pgPort: number;
  readonly restPort: number;
  /** Patroni's config, logs and pid files; the PostgreSQL data directory is `dataDir`. */
  readonly dir: string;
  readonly dataDir: string;
}

export interface EtcdMemberLayout {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dir: string;
}

/** Where one HA stack lives: every port and folder; the default is DESIGN §7's. */
export interface HaLayout {
  /** Patroni's scope (cluster name); also the etcd key prefix, so two stacks never mix. */
  readonly scope: string;
  readonly root: string;
  /** The folder the stack was asked for; `root` differs from it as root (haStorageRoot). */
  readonly origin: string;
  readonly database: string;
  readonly members: readonly HaMemberLayout[];
  readonly etcd: readonly EtcdMemberLayout[];
  readonly haproxy: { readonly dir: string; readonly primaryPort: number; readonly replicaPort: number; readonly statsPort: number };
}

/** The ports a layout needs, given explicitly (private test stacks on free ports). */
export interface HaPorts {
  readonly postgres: readonly number[];
  readonly patroniRest: readonly number[];
  readonly etcdClient: readonly number[];
  readonly etcdPeer: readonly number[];
  readonly haproxyPrimary: number;
  readonly haproxyReplicas: number;
  readonly haproxyStats: number;
}

/**
 * DESIGN §7's ports moved by the stack's port offset (the same offset as the plain stack's).
 * etcd's members are 100 ports apart, so moving them by an offset of 100 (the step the
 * preflight suggests) would land one stack's members on another's: they move by 4 per 100
 * of offset instead (client and peer port, with room to spare), 2383/2483/2583 at offset 100.
 */
export function defaultHaPorts(offset: number): HaPorts {
  const add = (ports: readonly number[]): number[] => ports.map((p) => p + offset);
  const etcdShift = Math.floor(offset / 25);
  return {
    postgres: add(HA_PORTS.postgres),
    patroniRest: add(HA_PORTS.patroniRest),
    etcdClient: HA_PORTS.etcdClient.map((p) => p + etcdShift),
    etcdPeer: HA_PORTS.etcdClient.map((p) => p + 1 + etcdShift),
    haproxyPrimary: HA_PORTS.haproxyPrimary + offset,
    haproxyReplicas: HA_PORTS.haproxyReplicas + offset,
    haproxyStats: HA_PORTS.haproxyStats + offset,
  };
}

export function buildHaLayout(root: string, ports: HaPorts, scope = 'bgc-ha', database = 'bgc', origin = root): HaLayout {
  const members = ports.postgres.map((pgPort, i): HaMemberLayout => {
    const name = `pg${i + 1}`;
    const dir = path.join(root, name);
    return { name, pgPort, restPort: at(ports.patroniRest, i), dir, dataDir: path.join(dir, 'data') };
  });
  const etcd = ports.etcdClient.map((clientPort, i): EtcdMemberLayout => {
    const name = `etcd${i + 1}`;
    return { name, clientPort, peerPort: at(ports.etcdPeer, i), dir: path.join(root, name) };
  });
  return {
    scope, root, origin, database, members, etcd,
    haproxy: { dir: path.join(root, 'haproxy'), primaryPort: ports.haproxyPrimary, replicaPort: ports.haproxyReplicas, statsPort: ports.haproxyStats },
  };
}

/** The `bgc stack up --ha` layout: `<data dir>/ha`, DESIGN §7's ports plus BGC_STACK_PORT_OFFSET. */
export function haLayoutFor(config: Config): HaLayout {
  const origin = path.join(config.dataDir, 'ha');
  return buildHaLayout(haStorageRoot(origin), defaultHaPorts(config.stack.portOffset), 'bgc-ha', 'bgc', origin);
}

/**
 * Where an HA stack meant for `requested` really lives. As root the servers run as the
 * `postgres` user, which cannot enter a checkout under /root or a mode-700 temporary folder,
 * so, like the plain stack's PostgreSQL data (src/tools/stack/pg-location.ts), the whole HA stack
 * then lives in /var/lib/bgc/ha-<hash of the requested folder>: one per checkout. As any
 * other user it lives where asked.
 */
export function haStorageRoot(requested: string): string {
  if (!isRoot()) return requested;
  const hash = crypto.createHash('sha256').update(path.resolve(requested)).digest('hex').slice(0, 16);
  return path.join(SHARED_PG_PARENT, `ha-${hash}`);
}

/** The URLs an app uses against this stack (DATABASE_URL through HAProxy, BGC_PATRONI_URLS). */
export function haUrls(layout: HaLayout): { primaryUrl: string; replicaUrl: string; patroniUrls: string[] } {
  const pgUrl = (port: number): string => `postgres://postgres@127.0.0.1:${port}/${layout.database}`;
  return {
    primaryUrl: pgUrl(layout.haproxy.primaryPort),
    replicaUrl: pgUrl(layout.haproxy.replicaPort),
    patroniUrls: layout.members.map((m) => `http://127.0.0.1:${m.restPort}`),
  };
}

function at(list: readonly number[], i: number): number {
  const v = list[i];
  if (v === undefined) throw new Error(`HA layout: no port number ${i + 1} in [${list.join(', ')}]`);
  return v;
}
