import pg from 'pg';
import type { Config } from '../../../config/index.ts';
import { hashToken, newSessionToken } from '../../../auth/tokens.ts';
import { newId } from '../../../services/ids.ts';
import { adminClient, benchUrls, migrateDatabase, type BenchUrls } from '../bench-db.ts';
import { REALTIME_BENCH_SQL } from './realtime.sql.ts';

/** One benchmark user: a live session token and the two conversations of the ring it is in. */
export interface RtUser {
  readonly id: string;
  readonly token: string;
  readonly conversations: readonly [string, string];
}

export interface RtFixture {
  readonly urls: BenchUrls;
  readonly users: readonly RtUser[];
  /** Conversation → its two members. */
  readonly members: ReadonlyMap<string, readonly [string, string]>;
}

export const REALTIME_DATABASE = 'bgc_bench_realtime';
const CHUNK = 5_000;

/**
 * A fresh database `bgc_bench_realtime` (dropped and migrated each run: the scenario only
 * needs its own users, and leftovers of an earlier run would blur the exactness check)
 * with `n` users, a session each (tokens made here and stored hashed, as login does,
 * without paying n scrypt logins), and a ring of n direct conversations.
 */
export async function createRealtimeFixture(config: Config, n: number, progress: (m: string) => void): Promise<RtFixture> {
  if (n < 3) throw new Error('the realtime scenario needs at least 3 sockets (a ring of conversations)');
  const urls = benchUrls(config, REALTIME_DATABASE);
  const admin = await adminClient(config);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(REALTIME_DATABASE)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(REALTIME_DATABASE)}`);
  } finally {
    await admin.end();
  }
  await migrateDatabase(urls.primaryUrl);
  const ids = Array.from({ length: n }, () => newId());
  const tokens = ids.map(() => newSessionToken());
  const convIds = ids.map(() => newId());
  const members = new Map<string, readonly [string, string]>();
  const users: RtUser[] = ids.map((id, i) => {
    const before = convIds[(i + n - 1) % n] ?? '';
    const own = convIds[i] ?? '';
    members.set(own, [id, ids[(i + 1) % n] ?? '']);
    return { id, token: tokens[i] ?? '', conversations: [own, before] };
  });
  const c = new pg.Client({ connectionString: urls.primaryUrl, application_name: 'bgc-bench-setup' });
  await c.connect();
  try {
    for (let from = 0; from < n; from += CHUNK) {
      const part = users.slice(from, from + CHUNK);
      const uids = part.map((u) => u.id);
      await c.query(REALTIME_BENCH_SQL.users, [uids, from]);
      await c.query(REALTIME_BENCH_SQL.profiles, [uids, from]);
      await c.query(REALTIME_BENCH_SQL.sessions, [part.map(() => newId()), uids, part.map((u) => hashToken(u.token).toString('hex'))]);
    }
    const convs = [...members.entries()];
    for (let from = 0; from < convs.length; from += CHUNK) {
      const part = convs.slice(from, from + CHUNK);
      await c.query(REALTIME_BENCH_SQL.conversations, [part.map(([cid]) => cid), part.map(([, m]) => m[0]), part.map(([, m]) => m[1])]);
      await c.query(REALTIME_BENCH_SQL.members, [part.flatMap(([cid]) => [cid, cid]), part.flatMap(([, m]) => [m[0], m[1]])]);
    }
    await c.query('ANALYZE');
  } finally {
    await c.end();
  }
  progress(`${REALTIME_DATABASE}: ${n} users with sessions, ${n} conversations in a ring`);
  return { urls, users, members };
}

/** Every message id in the database, by conversation. */
export async function messagesByConversation(urls: BenchUrls): Promise<Map<string, string[]>> {
  const c = new pg.Client({ connectionString: urls.primaryUrl, application_name: 'bgc-bench-setup' });
  await c.connect();
  try {
    const rows = (await c.query<{ id: string; conversation_id: string }>(REALTIME_BENCH_SQL.messages)).rows;
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.conversation_id, [...(out.get(r.conversation_id) ?? []), r.id]);
    return out;
  } finally {
    await c.end();
  }
}

export async function dropRealtimeFixture(config: Config): Promise<void> {
  const admin = await adminClient(config);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(REALTIME_DATABASE)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
