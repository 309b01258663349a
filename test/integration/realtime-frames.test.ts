import type pg from 'pg';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { parseClientFrame } from '../../src/realtime/protocol.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { RtClient, type RtEvent } from '../helpers/realtime-client.ts';
import { auditRows, installWriteAudit, removeWriteAudit } from '../fuzz/support/write-audit.ts';

/**
 * The route fuzzer's sibling for /api/realtime: malformed frames, named and generated
 * (fast-check; FUZZ_SEED reproduces a run), on authenticated and unauthenticated sockets.
 * Each must close its socket with 4000 BAD_FRAME (1009 when over 16 KiB), never crash the
 * server or disturb other sockets, and write nothing (the fuzzer's write audit: triggers on
 * every table record any row changed while the frames were sent).
 */
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.REALTIME_FUZZ_RUNS ?? 150);

let tdb: TestDatabase;
let rt: Runtime;
let admin: pg.Client;
let token = '';
let bystander: RtClient;

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_frames');
  rt = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_COUNT: '0' }));
  const username = `frames_${process.pid}`;
  const res = await rt.app.inject({
    method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email: `${username}@example.test`, username, password: 'correct Horse 42' }),
  });
  token = (JSON.parse(res.body) as { token: string }).token;
  admin = await tdb.admin();
  await installWriteAudit(admin);
  bystander = await RtClient.ready(rt.ports.api, token);
});

afterAll(async () => {
  bystander?.close();
  if (admin) {
    await removeWriteAudit(admin).catch(() => undefined);
    await admin.end();
  }
  await rt?.close();
  await tdb?.drop();
});

/**
 * Sends one frame on a fresh socket, then a ping. Returns the close code, or 'open' when
 * the socket answered the ping instead (a valid frame on an authenticated socket).
 */
async function closeCodeFor(frame: string | Buffer, authenticated: boolean, seen?: RtEvent[]): Promise<number | 'open'> {
  const c = authenticated ? await RtClient.ready(rt.ports.api, token) : await RtClient.open(rt.ports.api);
  if (typeof frame === 'string') c.ws.send(frame);
  else c.ws.send(frame, { binary: true });
  if (c.closedWith === undefined) c.ws.send(JSON.stringify({ type: 'ping', request_id: 'probe' }), () => undefined);
  const outcome = await Promise.race([
    c.waitClosed(3_000).then((closed) => closed.code),
    // A close rejects this wait: the close code is the outcome then.
    c.waitFor((e) => e.type === 'pong' && e.request_id === 'probe', 3_000).then(() => 'open' as const, async () => (await c.closed).code),
  ]);
  seen?.push(...c.events);
  if (outcome === 'open') {
    c.close();
    await c.waitClosed(2_000).catch(() => undefined);
  }
  return outcome;
}

const NAMED: Array<[string, string | Buffer]> = [
  ['not JSON', 'hello'],
  ['truncated JSON', '{"type":"ping"'],
  ['a JSON array', '[{"type":"ping"}]'],
  ['a JSON string', '"ping"'],
  ['null', 'null'],
  ['no type', '{"room_id":"0190d1c4-0000-7000-8000-000000000000"}'],
  ['unknown type', '{"type":"send","content":"hi"}'],
  ['extra field', '{"type":"ping","admin":true}'],
  ['join without room', '{"type":"join"}'],
  ['join with a bad uuid', '{"type":"join","room_id":"1; DROP TABLE messages"}'],
  ['typing with both targets', '{"type":"typing","room_id":"0190d1c4-0000-7000-8000-000000000000","conversation_id":"0190d1c4-0000-7000-8000-000000000000"}'],
  ['sync with a huge limit', '{"type":"sync","since":"0190d1c4-0000-7000-8000-000000000000","limit":100000}'],
  ['sync with a bad lsn', '{"type":"sync","since":"0190d1c4-0000-7000-8000-000000000000","lsn":"nope"}'],
  ['auth with a number token', '{"type":"auth","token":42}'],
  ['a NUL byte', '{"type":"ping","request_id":"\u0000"}\u0000'],
  ['a binary frame', Buffer.from('{"type":"ping"}')],
  ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b])],
];

describe('malformed frames', () => {
  it('close the socket with 4000 (authenticated or not), and 1009 past 16 KiB', async () => {
    const startAudit = (await auditRows(admin)).at(-1)?.id ?? 0;
    for (const [label, frame] of NAMED) {
      for (const authenticated of [true, false]) {
        const code = await closeCodeFor(frame, authenticated);
        expect(code, `${label} (${authenticated ? 'authenticated' : 'before auth'})`).toBe(4000);
      }
    }
    expect(await closeCodeFor(JSON.stringify({ type: 'ping', request_id: 'x'.repeat(17 * 1024) }), true)).toBe(1009);
    // The server is fine and wrote nothing.
    bystander.send({ type: 'ping', request_id: 'named' });
    await bystander.waitFor((e) => e.type === 'pong' && e.request_id === 'named', 2_000);
    expect(await auditRows(admin, startAudit)).toEqual([]);
  });

  it(`generated frames (${RUNS} runs, seed ${SEED}): a malformed one closes with 4000, a valid one is answered`, async () => {
    console.log(`realtime frame fuzz: FUZZ_SEED=${SEED} REALTIME_FUZZ_RUNS=${RUNS}`);
    const startAudit = (await auditRows(admin)).at(-1)?.id ?? 0;
    const uuidish = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }));
    const frameLike = fc.record({
      type: fc.constantFrom('auth', 'join', 'leave', 'typing', 'sync', 'ping', 'pong', 'message', ''),
      room_id: fc.option(uuidish, { nil: undefined }),
      conversation_id: fc.option(uuidish, { nil: undefined }),
      since: fc.option(uuidish, { nil: undefined }),
      cursor: fc.option(fc.string({ maxLength: 120 }), { nil: undefined }),
      limit: fc.option(fc.oneof(fc.integer(), fc.double(), fc.string()), { nil: undefined }),
      token: fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined }),
      extra: fc.option(fc.jsonValue(), { nil: undefined }),
    }, { requiredKeys: [] }).map((o) => JSON.stringify(o));
    // Well-formed frames too, so the "answered, not closed" side runs (unknown rooms, conversations).
    const wellFormed = fc.oneof(
      fc.constant({ type: 'ping' }),
      fc.uuid().map((id) => ({ type: 'join', room_id: id })),
      fc.uuid().map((id) => ({ type: 'leave', room_id: id })),
      fc.uuid().map((id) => ({ type: 'typing', conversation_id: id })),
      fc.uuid({ version: 7 }).map((id) => ({ type: 'sync', since: id, limit: 5 })),
    ).map((o) => JSON.stringify(o));
    const arbitrary = fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), frameLike, wellFormed);
    let malformed = 0;
    await fc.assert(fc.asyncProperty(arbitrary, fc.boolean(), async (text, authenticated) => {
      const valid = parseClientFrame(text) !== undefined;
      const seen: RtEvent[] = [];
      const code = await closeCodeFor(text, authenticated, seen);
      // A frame the protocol accepts must never reach the database as a failing statement.
      expect(seen.filter((e) => e.type === 'error' && e.code === 'UNAVAILABLE')).toEqual([]);
      if (!valid) {
        malformed++;
        expect(code).toBe(4000);
      } else if (authenticated) {
        // A well-formed frame never gets 4000; `auth` on an authenticated socket is an error event.
        expect(code).not.toBe(4000);
      } else {
        // Before auth a valid frame is either `auth` (4001 for a token that is not a session) or not auth (4001).
        expect(code).toBe(4001);
      }
    }), { numRuns: RUNS, seed: SEED });
    console.log(`${malformed} of ${RUNS} generated frames were malformed`);
    expect(malformed).toBeGreaterThan(RUNS / 3);
    expect(malformed).toBeLessThan(RUNS);
    bystander.send({ type: 'ping', request_id: 'generated' });
    await bystander.waitFor((e) => e.type === 'pong' && e.request_id === 'generated', 2_000);
    expect(await auditRows(admin, startAudit)).toEqual([]);
  });
});
