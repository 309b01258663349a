import type { BenchData } from './data/bench-data.ts';
import type { LatencyProxies } from './latency-proxies.ts';
import type { RoundTripProbe } from './report-types.ts';
import { sleep } from './processes.ts';

/**
 * Counts database and Redis round trips per request on the wire (through the latency
 * proxies), one request at a time, for a profile read on a cache miss and on a hit and
 * for the other hot paths. DESIGN §6: at most 2 database round trips on a miss, none on
 * a hit. Background traffic (the replica monitor's polls) is measured while idle and
 * subtracted. The implied count from latency (median / (2 × delay)) is a cross-check;
 * it includes Redis round trips.
 */
const PROBES_PER_CASE = 12;

interface Sums { pg: number; redis: number }

export async function probeRoundTrips(baseUrl: string, proxies: LatencyProxies, data: BenchData): Promise<RoundTripProbe[]> {
  const actor = data.actors[0];
  if (!actor) throw new Error('round-trip probe needs a logged-in actor');
  const headers = { authorization: `Bearer ${actor.token}` };
  const get = async (path: string, init: RequestInit = {}): Promise<void> => {
    const res = await fetch(`${baseUrl}${path}`, { headers, ...init, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`round-trip probe ${path}: HTTP ${res.status}`);
  };
  await get('/api/auth/session'); // the actor's session is cached from here on
  await get('/api/auth/session');

  const background = await backgroundRate(proxies, 3_000);
  // Profiles from the unpopular end of the list: neither warmed at start-up nor read by
  // the workloads, so the first read of each is a miss.
  const cold = data.profileIds.slice(-PROBES_PER_CASE * 2).slice(0, PROBES_PER_CASE);
  const conversation = data.actors.find((a) => a.conversations.length > 0);
  const cases: Array<{ name: string; run: (i: number) => Promise<void> }> = [
    { name: 'profile_read (cache miss)', run: (i) => get(`/api/profiles/${cold[i % cold.length] ?? ''}`) },
    { name: 'profile_read (cache hit)', run: (i) => get(`/api/profiles/${cold[i % cold.length] ?? ''}`) },
    { name: 'session_read (cache hit)', run: () => get('/api/auth/session') },
    { name: 'inbox', run: () => get('/api/chat/conversations') },
  ];
  if (conversation) {
    const h = { authorization: `Bearer ${conversation.token}`, 'content-type': 'application/json' };
    const conv = conversation.conversations[0] ?? '';
    cases.push({ name: 'history', run: async () => { const r = await fetch(`${baseUrl}/api/chat/conversations/${conv}/history`, { headers: h }); await r.arrayBuffer(); } });
    cases.push({
      name: 'message_send',
      run: async () => {
        const r = await fetch(`${baseUrl}/api/chat/conversations/${conv}/messages`, { method: 'POST', headers: h, body: JSON.stringify({ content: 'round-trip probe (bench)' }) });
        await r.arrayBuffer();
      },
    });
  }

  const out: RoundTripProbe[] = [];
  for (const c of cases) {
    const latencies: number[] = [];
    const before = await totals(proxies);
    const t0 = performance.now();
    for (let i = 0; i < PROBES_PER_CASE; i++) {
      const s = performance.now();
      await c.run(i);
      latencies.push(performance.now() - s);
    }
    const elapsed = performance.now() - t0;
    const after = await totals(proxies);
    const pg = Math.max(0, after.pg - before.pg - background.pg * elapsed);
    const redis = Math.max(0, after.redis - before.redis - background.redis * elapsed);
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)] ?? 0;
    out.push({
      case: c.name,
      requests: PROBES_PER_CASE,
      pg_round_trips_per_request: round2(pg / PROBES_PER_CASE),
      redis_round_trips_per_request: round2(redis / PROBES_PER_CASE),
      latency_ms_median: round2(median),
      implied_round_trips: round2(median / (2 * proxies.delayMs)),
    });
  }
  return out;
}

async function totals(proxies: LatencyProxies): Promise<Sums> {
  const stats = await proxies.stats();
  let pg = 0;
  let redis = 0;
  for (const [name, s] of Object.entries(stats)) {
    if (name.startsWith('pg_')) pg += s.turns; else redis += s.turns;
  }
  return { pg, redis };
}

/** Turns per millisecond while no request runs (replica monitor, pool pre-pings, cache housekeeping). */
async function backgroundRate(proxies: LatencyProxies, ms: number): Promise<Sums> {
  const a = await totals(proxies);
  await sleep(ms);
  const b = await totals(proxies);
  return { pg: (b.pg - a.pg) / ms, redis: (b.redis - a.redis) / ms };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
