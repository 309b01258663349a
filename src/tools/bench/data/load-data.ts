import pg from 'pg';
import { DEMO_PASSWORD } from '../../seed/run-seed.ts';
import type { BenchActor, BenchData } from './bench-data.ts';
import { DATA_SQL } from './data.sql.ts';

/**
 * Builds the generator's BenchData from a seeded database and the running API:
 * popularity-ordered ids from the database, then real sessions by logging the most
 * active users in through POST /api/auth/login (scrypt makes each login cost ~50 ms of
 * CPU, so the number of logins and the time spent are both capped).
 */
export interface DataOptions {
  readonly primaryUrl: string;
  readonly baseUrl: string;
  readonly maxActors: number;
  readonly loginBudgetMs: number;
  readonly maxProfiles: number;
  readonly conversationsPerActor: number;
}

export interface PreparedData {
  readonly data: BenchData;
  readonly loginSeconds: number;
  readonly loginFailures: number;
  readonly startedAt: Date;
}

interface Row { [k: string]: unknown }

/** Posts the comment workload spreads over (Zipf over the newest first). */
const RECENT_POSTS = 2_000;

async function rows<T extends Row>(client: pg.Client, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await client.query<T>(sql, params)).rows;
}

export async function prepareData(opts: DataOptions): Promise<PreparedData> {
  const startedAt = new Date(Date.now() - 1_000);
  const client = new pg.Client({ connectionString: opts.primaryUrl, application_name: 'bgc-bench-setup' });
  await client.connect();
  try {
    const candidates = await rows<{ id: string; email: string }>(client, DATA_SQL.actors, [opts.maxActors]);
    const login = await loginAll(opts.baseUrl, candidates, opts.loginBudgetMs);
    const ids = login.sessions.map((s) => s.id);
    const convRows = await rows<{ user_id: string; ids: string[] }>(client, DATA_SQL.conversations, [ids, opts.conversationsPerActor]);
    const convs = new Map(convRows.map((r) => [r.user_id, r.ids]));
    const hidden = new Map<string, string[]>();
    for (const b of await rows<{ a: string; b: string }>(client, DATA_SQL.blocks, [ids])) {
      hidden.set(b.a, [...(hidden.get(b.a) ?? []), b.b]);
      hidden.set(b.b, [...(hidden.get(b.b) ?? []), b.a]);
    }
    const groupRows = await rows<{ user_id: string; ids: string[] }>(client, DATA_SQL.groups, [ids, opts.conversationsPerActor]);
    const groups = new Map(groupRows.map((r) => [r.user_id, r.ids]));
    const actors: BenchActor[] = login.sessions.map((s) => ({
      ...s, conversations: convs.get(s.id) ?? [], hidden: hidden.get(s.id) ?? [], groups: groups.get(s.id) ?? [],
    }));
    const profileIds = (await rows<{ id: string }>(client, DATA_SQL.profileIds, [opts.maxProfiles])).map((r) => r.id);
    const galleryOwners = (await rows<{ id: string }>(client, DATA_SQL.galleryOwners, [opts.maxProfiles])).map((r) => r.id);
    const recentPosts = (await rows<{ id: string; author_id: string }>(client, DATA_SQL.recentPosts, [RECENT_POSTS])).map((r) => ({ id: r.id, authorId: r.author_id }));
    const rooms = (await rows<{ id: string }>(client, DATA_SQL.rooms)).map((r) => r.id);
    const places = await rows<{ city: string; state: string; lat: number | null; lng: number | null }>(client, DATA_SQL.places);
    const interests = (await rows<{ v: string }>(client, DATA_SQL.interests)).map((r) => r.v);
    const roles = (await rows<{ v: string }>(client, DATA_SQL.roles)).map((r) => r.v);
    const metadataFilters = (await rows<{ v: string }>(client, DATA_SQL.metadataFilters)).map((r) => r.v);
    const bios = (await rows<{ bio: string }>(client, DATA_SQL.bios)).map((r) => r.bio);
    return {
      data: { actors, profileIds, galleryOwners, recentPosts, rooms, search: { places, interests, roles, words: frequentWords(bios), metadataFilters } },
      loginSeconds: login.seconds,
      loginFailures: login.failures,
      startedAt,
    };
  } finally {
    await client.end();
  }
}

/** Logs users in, most active first, 8 at a time, until `budgetMs` or the list ends. */
async function loginAll(baseUrl: string, users: ReadonlyArray<{ id: string; email: string }>, budgetMs: number) {
  const started = performance.now();
  const deadline = started + budgetMs;
  const results: Array<{ id: string; token: string } | undefined> = new Array(users.length);
  let failures = 0;
  let nextIndex = 0;
  let lastError = '';
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && nextIndex < users.length) {
      const i = nextIndex++;
      const u = users[i];
      if (!u) return;
      try {
        const res = await fetch(`${baseUrl}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: u.email, password: DEMO_PASSWORD }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json()) as { token?: string; user?: { id?: string } };
        if (res.ok && typeof body.token === 'string') results[i] = { id: body.user?.id ?? u.id, token: body.token };
        else { failures++; lastError = `HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`; }
      } catch (err) {
        failures++;
        lastError = err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  // Keep popularity order: actor k is the k-th most active user that logged in.
  const sessions = results.filter((r): r is { id: string; token: string } => r !== undefined);
  if (sessions.length === 0) throw new Error(`no seeded user could log in through the API (${failures} failures; last: ${lastError})`);
  return { sessions, failures, seconds: Math.round((performance.now() - started) / 100) / 10 };
}

const STOP = new Set(['with', 'that', 'this', 'from', 'have', 'they', 'their', 'about', 'there', 'what', 'when', 'your', 'just', 'like', 'into', 'more', 'been', 'some', 'will']);

/** Words that really occur in bios (so free-text searches find something), most frequent first. */
function frequentWords(bios: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const b of bios) {
    for (const w of b.toLowerCase().split(/[^a-z]+/)) {
      if (w.length >= 4 && !STOP.has(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 100).map(([w]) => w);
}

/**
 * Gives the baseline database the optimized run's sessions (same rows, same tokens): the
 * two configurations then act as the same users without logging in twice.
 */
export async function copySessions(fromUrl: string, toUrl: string, userIds: readonly string[], since: Date): Promise<number> {
  const from = new pg.Client({ connectionString: fromUrl, application_name: 'bgc-bench-setup' });
  const to = new pg.Client({ connectionString: toUrl, application_name: 'bgc-bench-setup' });
  await from.connect();
  await to.connect();
  try {
    const json = (await from.query<{ rows: string }>(DATA_SQL.sessionsById, [userIds, since])).rows[0]?.rows ?? '[]';
    const res = await to.query(DATA_SQL.insertSessions, [json]);
    return res.rowCount ?? 0;
  } finally {
    await Promise.allSettled([from.end(), to.end()]);
  }
}
