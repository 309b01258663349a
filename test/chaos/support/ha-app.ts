import { uuidv7 } from 'uuidv7';
import { startRuntime } from '../../../src/app/runtime.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { connectNode } from '../../../src/tools/stack/postgres-node.ts';
import { waitForReplay } from '../../helpers/wait-for-replay.ts';
import type { ChaosApp, ChaosUser } from './env.ts';
import { PASSWORD } from './env.ts';
import type { HaPrivateStack } from './ha-stack.ts';

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

/**
 * One app instance on a private HA stack: DATABASE_URL through HAProxy's leader port, the
 * replicas as configured by `env` (the three members' direct URLs by default, or
 * BGC_PATRONI_URLS), with the same little seeded world as the plain chaos tests
 * (support/env.ts), so their read workload (socialStep) runs unchanged.
 */
export async function startHaApp(ps: HaPrivateStack, label: string, env: Record<string, string> = {}): Promise<ChaosApp> {
  const logs: string[] = [];
  const config = ps.config({ BGC_CACHE_NAMESPACE: `chaos:${label}:${uuidv7().slice(-6)}`, BGC_REPLICA_POLL_MS: '200', LOG_LEVEL: 'warn', ...env });
  const logger = createLogger(config, { write: (line: string) => { if (logs.length < 5_000) logs.push(line); } });
  const rt = await startRuntime(config, { logger });
  const baseUrl = `http://127.0.0.1:${rt.ports.api}`;
  const tag = uuidv7().slice(-8);
  const users: ChaosUser[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `ha_${label}_${tag}_${i}@example.test`;
    const r = await post<{ token: string; user: { id: string } }>(baseUrl, '/api/auth/register', { email, username: `h_${label}_${tag}_${i}`.slice(0, 40), password: PASSWORD });
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
  const primaryPort = ps.stack.layout.haproxy.primaryPort;
  const admin = await connectNode(primaryPort, 'bgc');
  try {
    await admin.query(`INSERT INTO chat_rooms (id, name, topic) VALUES ($1, $2, 'chaos')`, [roomId, `ha-${tag}`]);
  } finally { await admin.end(); }
  const postIds: string[] = [];
  for (let k = 0; k < 4; k++) postIds.push((await post<{ id: string }>(baseUrl, '/api/feed', { content: `seed post ${k}` }, users[k]?.token)).id);
  const leader = await ps.leader();
  await waitForReplay(primaryPort, ps.stack.layout.members.filter((m) => m.name !== leader.spec.name).map((m) => m.pgPort), 10_000);
  return { rt, baseUrl, users, conversations, roomId, postIds, logs, close: () => rt.close() };
}
