import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Grouped writes park their admission slot (src/http/overload-guard.ts, parkAdmissionSlot):
 * with ONE admission slot (one pool connection, BGC_OVERLOAD_SLOTS_PER_CONNECTION=1), 40 closed-loop
 * senders over real HTTP are all answered 201 and none is refused. Without parking, 39 of
 * them would always wait for the slot held by a send waiting on its group's commit: a
 * standing queue, which the guard refuses (with one slot per connection and no parking the
 * bench's 50 senders were refused 108,139 times in 20 s: docs/PERFORMANCE.md, "Overload").
 */
let tdb: TestDatabase;
let rt: Runtime;
let token: string;
let conversationId: string;

const json = { 'content-type': 'application/json' };

async function register(name: string): Promise<{ token: string; id: string }> {
  const res = await rt.app.inject({
    method: 'POST', url: '/api/auth/register', headers: json,
    payload: JSON.stringify({ email: `${name}_${process.pid}@example.test`, username: `${name}_${process.pid}`, password: 'correct Horse 42' }),
  });
  expect(res.statusCode, res.body).toBe(201);
  const body = JSON.parse(res.body) as { token: string; user: { id: string } };
  return { token: body.token, id: body.user.id };
}

beforeAll(async () => {
  tdb = await createTestDatabase('overload_grouped');
  rt = await startRuntime(tdb.config({
    BGC_OVERLOAD_TARGET_MS: '5', BGC_OVERLOAD_INTERVAL_MS: '100',
    BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '0', BGC_OVERLOAD_SLOTS_PER_CONNECTION: '1',
    // One group at a time on the one connection: a second group waiting for it would be a
    // standing pool queue on a slow machine, which the guard sheds on (not what this tests).
    BGC_SEND_GROUP_IN_FLIGHT: '1',
  }));
  const ann = await register('park_ann');
  const ben = await register('park_ben');
  token = ann.token;
  const open = await rt.app.inject({ method: 'POST', url: '/api/chat/conversations', headers: { ...json, authorization: `Bearer ${ann.token}` }, payload: JSON.stringify({ recipient_id: ben.id }) });
  expect(open.statusCode, open.body).toBeLessThan(300);
  conversationId = (JSON.parse(open.body) as { id: string }).id;
});

afterAll(async () => {
  await rt?.close();
  await tdb?.drop();
});

/** Closed-loop senders in a worker thread (in the server's loop they would slow what they measure). */
const SENDERS_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { url, token, clients, ms } = workerData;
  const statuses = {};
  const started = performance.now();
  const client = async (c) => {
    let n = 0;
    while (performance.now() - started < ms) {
      let status = 0;
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ content: 'park ' + c + ' ' + n++ }) });
        await res.text();
        status = res.status;
      } catch {}
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  parentPort.postMessage({ statuses, elapsedMs: performance.now() - started });
})();
`;

/**
 * Each client sends every message TWICE at once with one Idempotency-Key (a retry racing its
 * first attempt). The twin waits for the next group (exclusive keys), finds the key held and
 * answers from the record, which needs a pool connection of its own while parked: with one
 * connection it queues behind the groups. That queue is a standing pool queue, on which the
 * guard refuses NEW requests (503, docs/RELIABILITY.md): a refused attempt is sent again with
 * the same key, as a client would, up to 200 times. Both final answers must be the same 201.
 */
const KEYED_TWINS_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { url, token, clients, ms, prefix } = workerData;
  const statuses = {};
  let keys = 0, mismatched = 0, refused = 0;
  const started = performance.now();
  const once = async (key, content) => {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token, 'idempotency-key': key }, body: JSON.stringify({ content }) });
      const body = await res.text();
      return { status: res.status, id: res.status === 201 ? JSON.parse(body).id : undefined };
    } catch { return { status: 0, id: undefined }; }
  };
  const post = async (key, content) => {
    let r = await once(key, content);
    for (let i = 0; i < 200 && r.status === 503; i++) {
      refused++;
      await new Promise((res) => setTimeout(res, 5));
      r = await once(key, content);
    }
    return r;
  };
  const client = async (c) => {
    let n = 0;
    while (performance.now() - started < ms) {
      const key = prefix + '-' + c + '-' + n;
      const content = prefix + ' ' + c + ' ' + n++;
      const [a, b] = await Promise.all([post(key, content), post(key, content)]);
      keys++;
      for (const r of [a, b]) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (a.id === undefined || a.id !== b.id) mismatched++;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  parentPort.postMessage({ statuses, keys, mismatched, refused, elapsedMs: performance.now() - started });
})();
`;

describe('grouped writes under queue-delay admission', () => {
  it('40 closed-loop senders through one admission slot are all answered, none refused', async () => {
    const groupsBefore = rt.deps.services.conversations.sendGroups;
    const worker = new Worker(SENDERS_WORKER, { eval: true, workerData: { url: `http://127.0.0.1:${rt.ports.api}/api/chat/conversations/${conversationId}/messages`, token, clients: 40, ms: 1_500 } });
    const { statuses, elapsedMs } = await new Promise<{ statuses: Record<string, number>; elapsedMs: number }>((resolve, reject) => {
      worker.once('message', (m: { statuses: Record<string, number>; elapsedMs: number }) => { void worker.terminate(); resolve(m); });
      worker.once('error', reject);
    });
    const after = rt.deps.services.conversations.sendGroups;
    const groups = after.groups - groupsBefore.groups;
    const members = after.members - groupsBefore.members;
    console.log(`[park] ${JSON.stringify(statuses)} in ${elapsedMs.toFixed(0)} ms; ${members} sends in ${groups} groups (largest ${after.largestGroup})`);
    const sent = statuses['201'] ?? 0;
    expect(Object.keys(statuses)).toEqual(['201']);
    expect(sent).toBeGreaterThanOrEqual(40);
    expect(members).toBe(sent);
    // Parked senders share commits: more than one member per group on average.
    expect(members).toBeGreaterThan(groups);
  });

  it('keyed twins racing through one slot and one connection: both answered 201 with one message, a refused attempt retried with its key', async () => {
    const prefix = `twin_${process.pid}_${Date.now()}`;
    const worker = new Worker(KEYED_TWINS_WORKER, { eval: true, workerData: { url: `http://127.0.0.1:${rt.ports.api}/api/chat/conversations/${conversationId}/messages`, token, clients: 20, ms: 1_500, prefix } });
    type Out = { statuses: Record<string, number>; keys: number; mismatched: number; refused: number; elapsedMs: number };
    const out = await new Promise<Out>((resolve, reject) => {
      worker.once('message', (m: Out) => { void worker.terminate(); resolve(m); });
      worker.once('error', reject);
    });
    const admin = await tdb.admin();
    let stored: number;
    let duplicated: number;
    try {
      const res = await admin.query<{ stored: number; duplicated: number }>(
        `SELECT count(*)::int AS stored, (count(*) - count(DISTINCT content))::int AS duplicated FROM messages WHERE conversation_id = $1 AND content LIKE $2`,
        [conversationId, `${prefix} %`],
      );
      stored = res.rows[0]?.stored ?? -1;
      duplicated = res.rows[0]?.duplicated ?? -1;
    } finally {
      await admin.end();
    }
    console.log(`[park twins] final answers ${JSON.stringify(out.statuses)} for ${out.keys} keys in ${out.elapsedMs.toFixed(0)} ms; ${out.refused} attempts refused and sent again; ${out.mismatched} pairs with different answers; ${stored} stored, ${duplicated} duplicated`);
    expect(Object.keys(out.statuses)).toEqual(['201']);
    expect(out.keys).toBeGreaterThanOrEqual(20);
    expect(out.mismatched).toBe(0);
    expect(stored).toBe(out.keys);
    expect(duplicated).toBe(0);
  });
});
