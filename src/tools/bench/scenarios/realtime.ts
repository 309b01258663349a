import type { Config } from '../../../config/index.ts';
import { purgeNamespace } from '../../../cache/purge.ts';
import type { Check, ScenarioResult } from '../bench-report.ts';
import { waitForReplicas } from '../bench-db.ts';
import { roundMs } from '../histogram.ts';
import { sleep } from '../processes.ts';
import type { PromSnapshot } from '../prom-text.ts';
import { ServerUnderTest } from '../server-under-test.ts';
import { createRealtimeFixture, dropRealtimeFixture, messagesByConversation, type RtFixture } from '../realtime/fixture.ts';
import { SocketFleet } from '../realtime/fleet.ts';
import { paceSends } from '../realtime/senders.ts';

/**
 * `bgc bench --scenario realtime` (issue 19): N users connected to ONE instance over
 * /api/realtime (default 10,000), a fraction of them sending direct messages through the
 * REST API at a fixed total rate (default 200/s, paced), every socket checking what
 * arrives. Reports the delivery latency from the send's commit to the recipient's socket
 * (p50/p99), whether every socket received exactly the database's messages of its
 * conversations (none lost, none twice), and the server's memory per idle socket.
 */
export interface RealtimeBenchOptions {
  readonly sockets: number;
  readonly sendRate: number;
  /** Share of the users that send (the rest only receive). */
  readonly senderFraction: number;
}

export const REALTIME_DEFAULTS: RealtimeBenchOptions = { sockets: 10_000, sendRate: 200, senderFraction: 0.1 };
const CONNECT_CONCURRENCY = 200;
/** After the last send, how long deliveries may still arrive before the exactness check. */
const DRAIN_MS = 10_000;

interface Memory { readonly rss: number; readonly heapUsed: number; readonly external: number }

async function memory(server: ServerUnderTest): Promise<Memory> {
  // Median of three scrapes a second apart: one scrape can land mid-collection.
  const samples: Memory[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1_000);
    const m = await server.metrics();
    samples.push({
      rss: m.sum('bgc_process_process_resident_memory_bytes'),
      heapUsed: m.sum('bgc_process_nodejs_heap_size_used_bytes'),
      external: m.sum('bgc_process_nodejs_external_memory_bytes'),
    });
  }
  const median = (f: (m: Memory) => number) => samples.map(f).sort((a, b) => a - b)[1] ?? 0;
  return { rss: median((m) => m.rss), heapUsed: median((m) => m.heapUsed), external: median((m) => m.external) };
}

export async function runRealtime(config: Config, o: { realtime: RealtimeBenchOptions; durationMs: number; warmupMs: number; timeoutMs: number }, runId: string, progress: (m: string) => void): Promise<{ scenario: ScenarioResult; checks: Check[] }> {
  const rt = o.realtime;
  const namespace = `bench:rt:${runId}`;
  const fixture = await createRealtimeFixture(config, rt.sockets, progress);
  await waitForReplicas(fixture.urls.primaryUrl, fixture.urls.replicaUrls, 10 * 60_000);
  progress('realtime: starting the server under test');
  const server = await ServerUnderTest.start({
    endpoints: { primaryUrl: fixture.urls.primaryUrl, replicaUrls: fixture.urls.replicaUrls, redisUrl: config.redis.url },
    baseline: false,
    extraEnv: { BGC_CACHE_WARM_COUNT: '0', BGC_CACHE_NAMESPACE: namespace, BGC_REALTIME_MAX_CONNECTIONS: String(rt.sockets + 1_000) },
  });
  const fleet = new SocketFleet(server.port, fixture.users);
  try {
    const idle = await memory(server);
    progress(`realtime: connecting ${rt.sockets} sockets (${CONNECT_CONCURRENCY} handshakes at a time)`);
    const conn = await fleet.connect(CONNECT_CONCURRENCY, progress);
    progress(`realtime: ${conn.connected} connected, ${conn.failed} failed in ${conn.seconds} s${conn.failed ? ` (last error: ${conn.lastError})` : ''}`);
    await sleep(3_000);
    // What 10,000 idle sockets cost: memory, and CPU over ten quiet seconds (heartbeats included).
    const cpuBefore = await server.metrics();
    const idleStarted = performance.now();
    const loaded = await memory(server);
    await sleep(8_000);
    const idleCpu = (await server.metrics()).delta(cpuBefore, 'bgc_process_process_cpu_seconds_total') / ((performance.now() - idleStarted) / 1000);
    const senders = fixture.users.slice(0, Math.max(1, Math.round(rt.sockets * rt.senderFraction)));
    const pick = (k: number) => {
      const u = senders[Math.floor(Math.random() * senders.length)] ?? senders[0];
      if (!u) throw new Error('no senders');
      return { token: u.token, conversationId: u.conversations[k % 2] ?? u.conversations[0] };
    };
    const common = { baseUrl: server.baseUrl, rate: rt.sendRate, timeoutMs: o.timeoutMs, pick };
    if (o.warmupMs > 0) {
      progress(`realtime: warm-up ${o.warmupMs / 1000} s at ${rt.sendRate} sends/s`);
      await paceSends({ ...common, durationMs: o.warmupMs });
    }
    const before = await server.metrics();
    fleet.measuring = true;
    progress(`realtime: measuring ${o.durationMs / 1000} s at ${rt.sendRate} sends/s from ${senders.length} senders`);
    const sends = await paceSends({ ...common, durationMs: o.durationMs });
    const drainStarted = performance.now();
    await waitDelivered(fleet, fixture, sends.confirmed, DRAIN_MS);
    const drainMs = Math.round(performance.now() - drainStarted);
    fleet.measuring = false;
    const after = await server.metrics();
    const exact = await exactness(fleet, fixture);
    return report(rt, o, { conn, idle, loaded, idleCpu, sends, exact, drainMs, before, after, fleet });
  } finally {
    await fleet.close();
    await server.stop();
    await dropRealtimeFixture(config).catch(() => undefined);
    await purgeNamespace(config.redis.url, namespace).catch(() => undefined);
  }
}

/** Until every confirmed send reached both members' sockets (bounded). */
async function waitDelivered(fleet: SocketFleet, fixture: RtFixture, confirmed: ReadonlyMap<string, readonly string[]>, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  const pending = (): boolean => {
    for (const [conv, ids] of confirmed) {
      for (const member of fixture.members.get(conv) ?? []) {
        const got = fleet.received.get(member);
        const synced = fleet.synced.get(member);
        if (ids.some((id) => !got?.has(id) && !synced?.has(id))) return true;
      }
    }
    return false;
  };
  while (pending() && performance.now() < deadline) await sleep(100);
}

interface Exactness {
  readonly expected: number; readonly lost: number; readonly duplicated: number; readonly unexpected: number; readonly usersChecked: number;
  /** Deliveries that were not pushed but fetched with `sync` after a `resync`. */
  readonly recoveredBySync: number;
}

/** Every socket's received ids against the database's messages of its two conversations. */
async function exactness(fleet: SocketFleet, fixture: RtFixture): Promise<Exactness> {
  const db = await messagesByConversation(fixture.urls);
  let expected = 0;
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  let usersChecked = 0;
  let recoveredBySync = 0;
  for (const u of fixture.users) {
    const got = fleet.received.get(u.id);
    if (!got) continue;
    const synced = fleet.synced.get(u.id) ?? new Set<string>();
    usersChecked++;
    const want = new Set(u.conversations.flatMap((c) => db.get(c) ?? []));
    expected += want.size;
    for (const id of want) {
      if (got.has(id)) continue;
      if (synced.has(id)) recoveredBySync++;
      else lost++;
    }
    for (const [id, times] of got) {
      if (times > 1) duplicated += times - 1;
      if (!want.has(id)) unexpected++;
    }
  }
  return { expected, lost, duplicated, unexpected, usersChecked, recoveredBySync };
}

function report(
  rt: RealtimeBenchOptions, o: { durationMs: number },
  r: {
    conn: Awaited<ReturnType<SocketFleet['connect']>>; idle: Memory; loaded: Memory; idleCpu: number; sends: Awaited<ReturnType<typeof paceSends>>;
    exact: Exactness; drainMs: number; before: PromSnapshot; after: PromSnapshot; fleet: SocketFleet;
  },
): { scenario: ScenarioResult; checks: Check[] } {
  const n = Math.max(1, r.conn.connected);
  const perSocket = {
    rss_bytes: Math.round((r.loaded.rss - r.idle.rss) / n),
    heap_used_bytes: Math.round((r.loaded.heapUsed - r.idle.heapUsed) / n),
    external_bytes: Math.round((r.loaded.external - r.idle.external) / n),
  };
  const lat = r.fleet.latency;
  const p50 = lat.count ? roundMs(lat.percentile(50)) : null;
  const p99 = lat.count ? roundMs(lat.percentile(99)) : null;
  const max = lat.count ? roundMs(lat.maxMs) : null;
  const dropped = Object.fromEntries(['not_open', 'slow_consumer', 'typing_rate', 'publish_failed'].map((reason) => [reason, r.after.delta(r.before, 'bgc_realtime_events_dropped_total', (l) => l.reason === reason)]));
  const pushed = r.after.delta(r.before, 'bgc_realtime_events_pushed_total', (l) => l.type === 'message');
  const disconnects = Object.fromEntries(r.after.labelValues('bgc_realtime_disconnects_total', 'reason')
    .map((reason) => [reason, r.after.delta(r.before, 'bgc_realtime_disconnects_total', (l) => l.reason === reason)])
    .filter(([, v]) => Number(v) > 0));
  const closeCodes = Object.fromEntries(r.fleet.closeCodes);
  const loopLagP99 = r.after.sum('bgc_process_nodejs_eventloop_lag_p99_seconds');
  const shed = Object.fromEntries(['pool', 'event_loop'].map((reason) => [reason, r.after.delta(r.before, 'bgc_http_shed_total', (l) => l.reason === reason)]));
  const figures = {
    sockets: rt.sockets, connected: r.conn.connected, connect_failed: r.conn.failed, connect_seconds: r.conn.seconds,
    closed_during_run: r.fleet.closedEarly,
    send_rate: rt.sendRate, duration_s: o.durationMs / 1000, sends_attempted: r.sends.attempted, sends_ok: r.sends.ok, send_errors: r.sends.errors,
    send_http_p99_ms: r.sends.httpLatency.count ? roundMs(r.sends.httpLatency.percentile(99)) : null, generator_lag_p99_ms: roundMs(r.sends.lagP99Ms),
    deliveries_measured: lat.count, delivery_p50_ms: p50, delivery_p99_ms: p99, delivery_max_ms: max,
    server_pushed_messages: pushed, server_dropped: dropped, server_disconnects: disconnects, client_close_codes: closeCodes,
    server_event_loop_lag_p99_ms: Math.round(loopLagP99 * 1000), server_shed_by_admission_control: shed,
    exact: r.exact, drain_ms: r.drainMs,
    memory_idle: r.idle, memory_connected: r.loaded, memory_per_idle_socket: perSocket,
    server_cpu_cores_while_idle_connected: Math.round(r.idleCpu * 1000) / 1000,
  };
  const summary = [
    `${r.conn.connected}/${rt.sockets} sockets on one instance (connected in ${r.conn.seconds} s), ${rt.sendRate} sends/s for ${o.durationMs / 1000} s from ${Math.round(rt.senderFraction * 100)}% of the users.`,
    `Sends: ${r.sends.ok} ok, ${r.sends.errors} errors (HTTP p99 ${figures.send_http_p99_ms} ms, generator lag p99 ${figures.generator_lag_p99_ms} ms; refused by admission control: ${JSON.stringify(shed)}).`,
    `Delivery to the recipient's socket (from the publish right after commit): ${lat.count} deliveries, p50 ${p50} ms, p99 ${p99} ms, max ${max} ms.`,
    `Exactness against the database: ${r.exact.expected} expected deliveries over ${r.exact.usersChecked} sockets, ${r.exact.lost} lost, ${r.exact.duplicated} duplicated, ${r.exact.unexpected} unexpected; ${r.exact.recoveredBySync} not pushed but recovered with sync after ${r.fleet.resyncs} resync events.`,
    `Server memory per idle socket: RSS ${perSocket.rss_bytes} B, heap ${perSocket.heap_used_bytes} B, external ${perSocket.external_bytes} B (RSS ${mb(r.idle.rss)} -> ${mb(r.loaded.rss)} MB); server CPU with all of them idle: ${figures.server_cpu_cores_while_idle_connected} cores.`,
    `Server drops: ${JSON.stringify(dropped)}; disconnects during the run: ${JSON.stringify(disconnects)}; sockets closed on the clients: ${r.fleet.closedEarly} ${JSON.stringify(closeCodes)}; server event-loop lag p99 ${figures.server_event_loop_lag_p99_ms} ms.`,
  ].join('\n');
  const checks: Check[] = [
    { name: 'realtime: every socket connected', ok: r.conn.failed === 0 && r.conn.connected === rt.sockets, detail: `${r.conn.connected}/${rt.sockets}${r.conn.failed ? `; last error ${r.conn.lastError}` : ''}` },
    { name: 'realtime: zero send errors', ok: r.sends.errors === 0, detail: `${r.sends.errors} of ${r.sends.attempted}${r.sends.errors ? `; last ${r.sends.lastError}` : ''}` },
    { name: 'realtime: 0 lost, 0 duplicated deliveries', ok: r.exact.lost === 0 && r.exact.duplicated === 0 && r.exact.unexpected === 0, detail: `${r.exact.lost} lost, ${r.exact.duplicated} duplicated, ${r.exact.unexpected} unexpected of ${r.exact.expected} (${r.exact.recoveredBySync} via sync)` },
    { name: 'realtime: every delivery pushed (none needed a sync)', ok: r.exact.recoveredBySync === 0, detail: `${r.exact.recoveredBySync} recovered with sync` },
    { name: 'realtime: delivery p99 ≤ 100 ms', ok: p99 !== null && p99 <= 100, detail: `p99 ${p99} ms over ${lat.count} deliveries` },
  ];
  return { scenario: { summary, workloads: {}, figures }, checks };
}

function mb(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}
