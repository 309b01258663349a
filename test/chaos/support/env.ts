import { uuidv7 } from 'uuidv7';
import pg from 'pg';
import { startRuntime, type Runtime } from '../../../src/app/runtime.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { connectNode } from '../../../src/tools/stack/postgres-node.ts';
import type { PrivateStack } from '../../helpers/private-stack.ts';
import type { Client, Step } from './load.ts';

/**
 * One app instance on a private stack, listening on free ports, with a little seeded
 * social world (users with tokens, conversations with messages, a room, posts), a
 * standard read/write workload over it, and a sampler of PostgreSQL connections.
 */
export interface ChaosUser { readonly id: string; readonly token: string; readonly email: string; readonly password: string }

export interface ChaosApp {
  readonly rt: Runtime;
  readonly baseUrl: string;
  readonly users: ChaosUser[];
  /** conversations[i] is shared by users[2i] and users[2i+1]. */
  readonly conversations: string[];
  readonly roomId: string;
  readonly postIds: string[];
  /** Log lines at warn level and above, captured (kept out of the test output). */
  readonly logs: string[];
  close(): Promise<void>;
}

export const PASSWORD = 'chaos Monkey 2024';
const USERS = 10;

async function post<T>(baseUrl: string, path: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = await res.json() as T;
  if (res.status >= 300) throw new Error(`seed ${path} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Starts a listening runtime on the private stack and seeds it through the API. */
export async function startChaosApp(ps: PrivateStack, label: string, env: Record<string, string> = {}, urls?: { primaryUrl: string; replicaUrls: string[]; redisUrl: string }): Promise<ChaosApp> {
  const logs: string[] = [];
  const config = ps.config({
    BGC_CACHE_NAMESPACE: `chaos:${label}:${uuidv7().slice(-6)}`,
    BGC_REPLICA_POLL_MS: '200',
    LOG_LEVEL: 'warn',
    ...(urls ? { DATABASE_URL: urls.primaryUrl, DATABASE_REPLICA_URLS: urls.replicaUrls.join(','), REDIS_URL: urls.redisUrl } : {}),
    ...env,
  });
  const logger = createLogger(config, { write: (line: string) => { if (logs.length < 5_000) logs.push(line); } });
  const rt = await startRuntime(config, { logger });
  const baseUrl = `http://127.0.0.1:${rt.ports.api}`;
  const tag = uuidv7().slice(-8);
  const users: ChaosUser[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `chaos_${label}_${tag}_${i}@example.test`;
    const r = await post<{ token: string; user: { id: string } }>(baseUrl, '/api/auth/register', { email, username: `c_${label}_${tag}_${i}`.slice(0, 40), password: PASSWORD });
    users.push({ id: r.user.id, token: r.token, email, password: PASSWORD });
  }
  const conversations: string[] = [];
  for (let i = 0; i + 1 < users.length; i += 2) {
    const a = users[i] as ChaosUser;
    const b = users[i + 1] as ChaosUser;
    const c = await post<{ id: string }>(baseUrl, '/api/chat/conversations', { recipient_id: b.id }, a.token);
    conversations.push(c.id);
    for (let k = 0; k < 4; k++) await post(baseUrl, `/api/chat/conversations/${c.id}/messages`, { content: `seed ${k}` }, k % 2 ? b.token : a.token);
  }
  const roomId = uuidv7();
  const admin = await connectNode(ps.stack.layout.primaryPort, 'bgc');
  try {
    await admin.query(`INSERT INTO chat_rooms (id, name, topic) VALUES ($1, $2, 'chaos')`, [roomId, `chaos-${tag}`]);
  } finally { await admin.end(); }
  const postIds: string[] = [];
  for (let k = 0; k < 4; k++) postIds.push((await post<{ id: string }>(baseUrl, '/api/feed', { content: `seed post ${k}` }, users[k]?.token)).id);
  await ps.syncReplicas();
  return {
    rt, baseUrl, users, conversations, roomId, postIds, logs,
    close: () => rt.close(),
  };
}

/**
 * The standard mix: about 80% reads (profile, conversation history, inbox, feed, room
 * history, comments) and 20% writes (a direct message, a post) unless `writeShare` says
 * otherwise. Worker w acts as user w mod 10, in its own conversation.
 */
export function socialStep(app: ChaosApp, opts: { writeShare?: number } = {}): Step {
  const writeShare = opts.writeShare ?? 0.2;
  return async (client: Client, w: number, i: number) => {
    const user = app.users[w % app.users.length] as ChaosUser;
    const conv = app.conversations[Math.floor((w % app.users.length) / 2)] as string;
    const other = app.users[(w + 3 + i) % app.users.length] as ChaosUser;
    const token = user.token;
    if (Math.random() < writeShare) {
      if (i % 2 === 0) await client.send({ kind: 'write', name: 'send_message', method: 'POST', path: `/api/chat/conversations/${conv}/messages`, token, body: { content: `load ${w}.${i}` } });
      else await client.send({ kind: 'write', name: 'post', method: 'POST', path: '/api/feed', token, body: { content: `status ${w}.${i}` } });
      return;
    }
    switch (i % 6) {
      case 0: await client.send({ kind: 'read', name: 'profile', method: 'GET', path: `/api/profiles/${other.id}`, token }); break;
      case 1: await client.send({ kind: 'read', name: 'history', method: 'GET', path: `/api/chat/conversations/${conv}/history?limit=20`, token }); break;
      case 2: await client.send({ kind: 'read', name: 'inbox', method: 'GET', path: '/api/chat/conversations', token }); break;
      case 3: await client.send({ kind: 'read', name: 'feed', method: 'GET', path: '/api/feed?type=global&limit=20', token }); break;
      case 4: await client.send({ kind: 'read', name: 'room_history', method: 'GET', path: `/api/chat/rooms/${app.roomId}/history`, token }); break;
      default: await client.send({ kind: 'read', name: 'comments', method: 'GET', path: `/api/feed/${app.postIds[i % app.postIds.length]}/comments`, token }); break;
    }
  };
}

/**
 * Samples pg_stat_activity on every node (primary + replicas) every `everyMs` and keeps the
 * peak count of the app's pooled connections (application_name 'bgc-api') per node. A node
 * that is down is skipped for that tick and reconnected on the next.
 */
export class ConnectionSampler {
  readonly peak: Record<string, number> = {};
  #timer: NodeJS.Timeout | undefined;
  #clients = new Map<string, pg.Client | undefined>();
  #busy = false;

  constructor(readonly nodes: ReadonlyArray<{ name: string; port: number }>, readonly everyMs = 200) {}

  start(): void {
    this.#timer = setInterval(() => { void this.#tick(); }, this.everyMs);
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await Promise.all(this.nodes.map(async (n) => {
        try {
          let c = this.#clients.get(n.name);
          if (!c) { c = await connectNode(n.port, 'postgres', 500); this.#clients.set(n.name, c); }
          const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bgc-api'`);
          this.peak[n.name] = Math.max(this.peak[n.name] ?? 0, rows[0]?.n ?? 0);
        } catch {
          const c = this.#clients.get(n.name);
          this.#clients.set(n.name, undefined);
          await c?.end().catch(() => undefined);
        }
      }));
    } finally { this.#busy = false; }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (let i = 0; i < 50 && this.#busy; i++) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.#clients.values()].map((c) => c?.end().catch(() => undefined)));
    this.#clients.clear();
  }
}

export function stackNodes(ps: PrivateStack): Array<{ name: string; port: number }> {
  return [
    { name: 'primary', port: ps.stack.layout.primaryPort },
    ...ps.stack.layout.replicaPorts.map((port, i) => ({ name: `replica${i + 1}`, port })),
  ];
}

/** Polls `cond` every 50 ms; resolves with the time it took, or throws after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
