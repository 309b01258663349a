import type { ChaosApp, ChaosUser } from './env.ts';
import type { Step } from './load.ts';

/**
 * Read-your-writes under faults: every fourth step a user sends a message and then
 *  - reads the conversation themselves, without any header (the router must find the
 *    user's own last-write LSN and pick a node that has replayed it), and
 *  - the other member reads it with the X-BGC-LSN header the write returned.
 * A 2xx page without the new message is recorded as a stale read (a failure).
 * Other steps run `base`.
 */
export function readYourWritesStep(app: ChaosApp, base: Step): Step {
  return async (client, w, i) => {
    if (i % 4 !== 0) return base(client, w, i);
    const userIndex = w % app.users.length;
    const user = app.users[userIndex] as ChaosUser;
    const partner = app.users[userIndex ^ 1] as ChaosUser;
    const conv = app.conversations[Math.floor(userIndex / 2)] as string;
    const sent = await client.send({
      kind: 'write', name: 'send_message', method: 'POST', path: `/api/chat/conversations/${conv}/messages`,
      token: user.token, body: { content: `ryw ${w}.${i}` },
    });
    if (sent.status !== 201) return;
    const id = (sent.body as { id: string }).id;
    const lsn = sent.headers?.get('x-bgc-lsn') ?? undefined;
    const path = `/api/chat/conversations/${conv}/history?limit=50`;
    const own = await client.send({ kind: 'read', name: 'own_history_after_write', method: 'GET', path, token: user.token });
    if (own.status === 200 && !(own.body as { items: Array<{ id: string }> }).items.some((m) => m.id === id)) {
      client.flag('read', 'own_history_after_write', 'stale: the writer does not see their own message');
    }
    const theirs = await client.send({ kind: 'read', name: 'partner_history_with_lsn', method: 'GET', path, token: partner.token, lsn });
    if (theirs.status === 200 && !(theirs.body as { items: Array<{ id: string }> }).items.some((m) => m.id === id)) {
      client.flag('read', 'partner_history_with_lsn', 'stale: X-BGC-LSN not honoured');
    }
  };
}
