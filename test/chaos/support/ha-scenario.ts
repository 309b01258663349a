import { connectNode } from '../../../src/tools/stack/postgres-node.ts';
import type { PatroniCluster } from '../../../src/tools/stack/ha/patroni-rest.ts';
import { socialStep, sleep, waitFor, type ChaosApp, type ChaosUser } from './env.ts';
import { httpClient, type Client, type Reply, type Sample } from './load.ts';
import type { HaPrivateStack } from './ha-stack.ts';

/**
 * One HA fault under a steady read and write load through the app:
 *
 *   load ─ warm-up ─▶ inject() ─▶ faultOver()? ─▶ heal() ─▶ writes acknowledged again ─ 2 s ─▶ stop
 *
 * Every write is a post (POST /api/feed) whose id is kept when acknowledged (201); reads are
 * the plain chaos tests' mix. Afterwards: which acknowledged ids the new leader lacks, and
 * whether the old leader came back as a streaming replica by itself. Everything is bounded.
 */
export interface HaScenarioOptions {
  readonly name: string;
  readonly ps: HaPrivateStack;
  readonly app: ChaosApp;
  readonly workers?: number;
  readonly writeShare?: number;
  /** Clients that, on a 503, wait Retry-After and send the same request once more. */
  readonly retry503Once?: boolean;
  inject(): Promise<void>;
  /** Polled (bounded by faultTimeoutMs) before heal(): e.g. "a new leader was elected". */
  faultOver?(): Promise<boolean>;
  readonly faultTimeoutMs?: number;
  heal?(): Promise<void>;
  /** The member whose return as a replica is awaited (the old leader), if any. */
  readonly rejoinMember?: string;
}

export interface HaScenarioResult {
  readonly name: string;
  /** Largest gap between consecutive acknowledged writes, from the last one before the fault on. */
  readonly writeOutageMs: number;
  /** Epoch ms: when inject() was called, and the two acknowledged writes around the largest gap. */
  readonly faultAt: number;
  readonly outageFrom: number;
  readonly outageTo: number;
  readonly reads: number;
  readonly failedReads: number;
  readonly writes: number;
  readonly failedWrites: number;
  readonly ackedWrites: number;
  readonly ackedMissing: number;
  /** null when no rejoin was asked for. */
  readonly oldPrimaryRejoined: boolean | null;
  readonly rejoinMs: number | null;
  readonly samples: readonly Sample[];
  readonly failureCodes: Record<string, number>;
  /** Slowest request that failed, ms (a hang would show here). */
  readonly slowestFailureMs: number;
}

interface Outcome { readonly kind: 'read' | 'write'; readonly ok: boolean; readonly status: number; readonly code: string | undefined; readonly ms: number }

const LOAD_MAX_MS = 150_000;

export async function runHaScenario(o: HaScenarioOptions): Promise<HaScenarioResult> {
  const samples: Sample[] = [];
  const base = httpClient(o.app.baseUrl, samples);
  const acks: Array<{ id: string; at: number }> = [];
  const outcomes: Outcome[] = [];
  const client: Client = {
    async send(spec) {
      const started = Date.now();
      let reply: Reply = await base.send(spec);
      if (o.retry503Once && reply.status === 503) {
        const wait = Math.min(5, Number(reply.headers?.get('retry-after') ?? '1') || 1);
        await sleep(wait * 1000);
        reply = await base.send(spec);
      }
      const code = (reply.body as { error?: { code?: string } } | null)?.error?.code;
      outcomes.push({ kind: spec.kind, ok: reply.status > 0 && reply.status < 500, status: reply.status, code, ms: Date.now() - started });
      return reply;
    },
    flag: base.flag,
  };
  const reads = socialStep(o.app, { writeShare: 0 });
  const writeShare = o.writeShare ?? 0.3;
  let stopped = false;
  const deadline = Date.now() + LOAD_MAX_MS;
  const loops = Array.from({ length: o.workers ?? 6 }, async (_, w) => {
    for (let i = 0; !stopped && Date.now() < deadline; i++) {
      if (Math.random() < writeShare) {
        const user = o.app.users[w % o.app.users.length] as ChaosUser;
        const reply = await client.send({ kind: 'write', name: 'post', method: 'POST', path: '/api/feed', token: user.token, body: { content: `ha ${o.name} ${w}.${i}` } });
        const id = (reply.body as { id?: string } | null)?.id;
        if (reply.status === 201 && id) acks.push({ id, at: Date.now() });
        else if (reply.status === 0 || reply.status >= 500) await sleep(50); // a client does not spin on errors
      } else {
        await reads(client, w, i);
      }
    }
  });

  let tFault = 0;
  try {
    await sleep(1_500);
    tFault = Date.now();
    await o.inject();
    if (o.faultOver) await waitFor(`${o.name}: fault over`, o.faultOver, o.faultTimeoutMs ?? 60_000);
    const tHeal = Date.now();
    await o.heal?.();
    await waitFor(`${o.name}: writes acknowledged again`, () => acks.some((a) => a.at > tHeal + 100), 60_000);
    await sleep(2_000);
  } finally {
    stopped = true;
    await Promise.all(loops);
  }

  const ackTimes = acks.map((a) => a.at).sort((a, b) => a - b);
  const lastBefore = ackTimes.filter((t) => t <= tFault).pop() ?? tFault;
  let outage = 0;
  let outageFrom = lastBefore;
  let outageTo = lastBefore;
  let prev = lastBefore;
  for (const t of ackTimes.filter((x) => x > lastBefore)) {
    if (t - prev > outage) { outage = t - prev; outageFrom = prev; outageTo = t; }
    prev = t;
  }

  const missing = await ackedMissing(o.ps, acks.map((a) => a.id));
  let rejoined: boolean | null = null;
  let rejoinMs: number | null = null;
  if (o.rejoinMember) {
    const member = o.rejoinMember;
    const waited = await waitFor(`${o.name}: ${member} back as a streaming replica`, async () => isStreamingReplica(await o.ps.cluster(), member), 90_000)
      .then((ms) => ms, () => undefined);
    rejoined = waited !== undefined;
    rejoinMs = rejoined ? Date.now() - tFault : null;
  }
  const failed = outcomes.filter((x) => !x.ok);
  const failureCodes: Record<string, number> = {};
  for (const f of failed) { const k = `${f.kind} ${f.status}${f.code ? ` ${f.code}` : ''}`; failureCodes[k] = (failureCodes[k] ?? 0) + 1; }
  const result: HaScenarioResult = {
    name: o.name,
    writeOutageMs: outage,
    faultAt: tFault,
    outageFrom,
    outageTo,
    reads: outcomes.filter((x) => x.kind === 'read').length,
    failedReads: failed.filter((x) => x.kind === 'read').length,
    writes: outcomes.filter((x) => x.kind === 'write').length,
    failedWrites: failed.filter((x) => x.kind === 'write').length,
    ackedWrites: acks.length,
    ackedMissing: missing,
    oldPrimaryRejoined: rejoined,
    rejoinMs,
    samples,
    failureCodes,
    slowestFailureMs: Math.max(0, ...failed.map((f) => f.ms)),
  };
  console.log(`[chaos-ha] ${o.name}: write outage ${result.writeOutageMs} ms; reads ${result.reads}, failed reads ${result.failedReads}; ` +
    `writes ${result.writes}, failed writes ${result.failedWrites}${o.retry503Once ? ' (after one retry of a 503)' : ''}; acknowledged writes ${result.ackedWrites}, ` +
    `acknowledged writes missing ${result.ackedMissing}; old primary rejoined ${rejoined === null ? 'n/a' : rejoined ? `yes, ${rejoinMs} ms after the fault` : 'NO'}; ` +
    `failures ${JSON.stringify(failureCodes)}; slowest failure ${result.slowestFailureMs} ms`);
  return result;
}

/** True when `member` is a replica of the current leader's timeline, running, with a known lag. */
export function isStreamingReplica(cluster: PatroniCluster | undefined, member: string): boolean {
  const leader = cluster?.members.find((m) => m.role === 'leader');
  const m = cluster?.members.find((x) => x.name === member);
  return leader !== undefined && m !== undefined && m.role !== 'leader' && (m.state === 'running' || m.state === 'streaming') &&
    typeof m.lag === 'number' && m.timeline === leader.timeline;
}

/** How many of `ids` the current leader does not have (asked through HAProxy's leader port, retried until it answers). */
async function ackedMissing(ps: HaPrivateStack, ids: readonly string[]): Promise<number> {
  let found = -1;
  await waitFor('leader answers for the acknowledged-writes check', async () => {
    try {
      const c = await connectNode(ps.stack.layout.haproxy.primaryPort, 'bgc', 1_000);
      try {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM status_updates WHERE id = ANY($1::uuid[])', [ids]);
        found = rows[0]?.n ?? 0;
        return true;
      } finally { await c.end(); }
    } catch {
      return false;
    }
  }, 60_000);
  return ids.length - found;
}

/** Waits until the stack is whole again: one leader, a synchronous standby, every member streaming. */
export async function waitHealthy(ps: HaPrivateStack, timeoutMs = 90_000): Promise<void> {
  await ps.stack.waitHealthy(timeoutMs);
}

export function leaderOf(cluster: PatroniCluster | undefined): string | undefined {
  return cluster?.members.find((m) => m.role === 'leader')?.name;
}
