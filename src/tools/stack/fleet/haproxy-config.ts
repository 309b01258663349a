import path from 'node:path';
import { RETRY_AFTER_SECONDS } from '../../../http/error-handler.ts';
import { ERROR_CATALOGUE } from '../../../errors/app-error.ts';
import { CHECK_FALL, CHECK_INTER_MS, type FleetLayout } from './layout.ts';

/**
 * The request log's line (layout.requestLog): status, total active time (Ta), time in the
 * queue (Tw), time to the server's response headers (Tr, -1 when no server answered: the
 * proxy's own answer), server name; then when the request started: the connection's accept
 * date (epoch seconds, milliseconds) and the handshake (Th), idle (Ti) and request-receive (TR)
 * times after it. A keep-alive client's requests share one accept date, so the request's own
 * start is accept + Th + Ti + TR. Parsed by src/tools/bench/haproxy-log.ts.
 */
export const REQUEST_LOG_FORMAT = '%ST %Ta %Tw %Tr %s %Ts %ms %Th %Ti %TR';

/** The API's 503 OVERLOADED, as the proxy sends it (single-quoted: HAProxy takes it verbatim). */
function overloadedAnswer(): string {
  const body = JSON.stringify({ error: { code: 'OVERLOADED', message: ERROR_CATALOGUE.OVERLOADED.message } });
  return `status 503 content-type application/json string '${body}' hdr Retry-After ${RETRY_AFTER_SECONDS} hdr Cache-Control no-store hdr X-BGC-Refused-By proxy`;
}

/** How long an HAProxy replaced by a resize may finish what it holds (the `hard-stop-after` setting). */
export const HARD_STOP_AFTER_MS = 15_000;

/** Descriptors kept for the server side when HAProxy's client connections are at maxconn. */
const SERVER_SIDE_DESCRIPTOR_SHARE = 0.4;
/** Past this, more client connections than one HAProxy process should hold anyway. */
const MAX_CLIENT_CONNECTIONS = 100_000;

/**
 * HAProxy's global maxconn for a descriptor limit. Left to itself HAProxy takes half the limit
 * (two descriptors per proxied connection): 9,984 clients at this machine's 20,000, which a
 * container's root cannot raise, so the 10,000-client scenario could not run through it. But
 * with server connections shared between clients (`http-reuse`, and the fd ratios below), a
 * keep-alive HTTP client costs one descriptor, and the server side a few hundred in all. So the
 * clients get 60% of the limit (12,000 at 20,000) and the server side the rest: the instances'
 * slots and idle pool, and /api/realtime tunnels, two descriptors each. That needs `no
 * strict-limits`: HAProxy then starts with an alert that the limit is below 2 × maxconn instead
 * of refusing to. Were the descriptors ever used up, HAProxy stops accepting until some are
 * freed (new clients wait in the kernel's accept queue); it does not fail the ones it holds.
 */
export function clientConnectionLimit(descriptorLimit: number): number {
  return Math.max(1, Math.min(MAX_CLIENT_CONNECTIONS, Math.floor(descriptorLimit * (1 - SERVER_SIDE_DESCRIPTOR_SHARE))));
}

/**
 * HAProxy in front of the app instances (docs/OPERATIONS.md, "A fleet of app instances").
 *  - `leastconn`: a slow instance gets fewer new requests instead of an equal share.
 *  - `option httpchk GET /readyz`: an instance that is draining (SIGTERM), not warmed up or
 *    without its primary leaves rotation after `fall` failed checks; requests already sent
 *    to it still complete.
 *  - `option forwardfor`: the client's address in X-Forwarded-For; instances run with
 *    BGC_TRUST_PROXY=127.0.0.1 so rate limits see the client, not the proxy.
 *  - `retry-on conn-failure` (HAProxy's default) with `redispatch`: a connection refused by a
 *    dead instance before it is marked down is tried on another one; a request already sent
 *    is never retried (it may not be idempotent), so a SIGKILL fails only those in flight.
 *  - admission (layout.admission, docs/RELIABILITY.md "Overload"): `maxconn` per instance, the
 *    rest queued here; a new request that finds the queue full, or a queued one past `timeout
 *    queue`, gets the API's 503 OVERLOADED with Retry-After from HAProxy itself. Probes and
 *    /api/realtime are exempt: realtime sockets are long-lived tunnels with their own limit
 *    (BGC_REALTIME_MAX_CONNECTIONS), so they go to a backend of the same instances without
 *    maxconn, where they cannot take the request slots.
 *  - keep-alive: clients are told HAProxy's idle limit, not Node's; HAProxy's idle timeouts (10 s client side, `pool-purge-delay` 5 s for its idle
 *    server connections) stay below Node's keepAliveTimeout (65 s, src/http/app.ts), so HAProxy
 *    never reuses a connection Node is closing (the sporadic-502 race, nodejs/node #20256).
 */
export function fleetHaproxyConfig(layout: FleetLayout, opts: { descriptorLimit: number; dropTo?: string }): string {
  const a = layout.admission;
  const queueLimit = a.queuePerInstance * layout.instances.length;
  return [
    '# Written by `bgc stack up --instances N` (src/tools/stack/fleet/haproxy-config.ts); rewritten at every start and resize.',
    'global',
    // maxconn and ulimit-n: see clientConnectionLimit.
    `    maxconn ${clientConnectionLimit(opts.descriptorLimit)}`,
    `    ulimit-n ${opts.descriptorLimit}`,
    '    no strict-limits',
    // Idle server connections are kept for reuse only while HAProxy's descriptors in use stay
    // under `tune.pool-low-fd-ratio` (default 20%) of `maxsock` (about 2 × maxconn) and are
    // killed past `pool-high-fd-ratio` (25%). So at the defaults 4,000+ mostly idle clients
    // (the 10,000-client scenario) turned reuse off: every request opened a new connection to
    // its instance (measured: connect = requests, reuse 0), and the instance's time went to
    // accepting them (docs/PERFORMANCE.md, "The proxy path at 10,000 clients"). The idle server
    // connections themselves stay few: HAProxy keeps about as many as its estimate of the
    // server's need.
    // One thread: HAProxy's work per request is small next to an instance's, and on a machine
    // the instances share, a second thread mostly added synchronisation. Measured at 9,500
    // clients and 2,000 req/s offered (docs/PERFORMANCE.md, "The proxy path at 10,000
    // clients"): 0.081 ms of CPU per request against 0.192 with two, the same goodput. One
    // thread at that cost carries about 12,000 req/s; past that, raise it.
    '    nbthread 1',
    '    tune.pool-low-fd-ratio 75',
    '    tune.pool-high-fd-ratio 85',
    // A resize (`up --instances M` on a running fleet) starts a new HAProxy with `-sf <old>`:
    // the old one stops listening and finishes what it holds, but a WebSocket tunnel would keep
    // it alive for an hour. Past this it closes what is left (those clients reconnect).
    `    hard-stop-after ${HARD_STOP_AFTER_MS}ms`,
    ...(opts.dropTo ? [`    user ${opts.dropTo}`, `    group ${opts.dropTo}`] : []),
    // HAProxy runs in the foreground (-db); its stdout is the log file.
    ...(layout.requestLog ? ['    log stdout format raw local0'] : []),
    // Quoted: a checkout path with a space would otherwise split the argument.
    `    stats socket ${JSON.stringify(path.join(layout.dir, 'haproxy', 'haproxy.sock'))} mode 600 level admin`,
    '',
    'defaults',
    '    mode http',
    '    option http-keep-alive',
    // During that soft stop an idle client connection is not closed under the client (which
    // may be sending on it at that moment): its next request is answered, with
    // `Connection: close`.
    '    option idle-close-on-response',
    // `http-reuse safe` (the default) stays: a client's first request gets a connection of its
    // own, later ones any idle one. `always` cut connects from 18,073 to 38 of 68,000 requests
    // at 10,000 clients with no measurable gain (instance CPU 0.249 against 0.242 ms a request,
    // p99 26.2 against 24.9 ms; docs/PERFORMANCE.md, "10,000 clients through one HAProxy"),
    // and it turns an instance closing an idle connection just as it is reused into a 502 for
    // that first request, where under `safe` the client can retry.
    '    option forwardfor',
    // A request is sent to an instance only once its body is here (up to a buffer, 16 kB): a
    // slow client then waits in HAProxy, not in one of the instance's `maxconn` slots.
    '    option http-buffer-request',
    '    retries 3',
    '    option redispatch 1',
    '    timeout connect 2s',
    `    timeout queue ${a.queueTimeoutMs}ms`,
    '    timeout http-request 10s',
    '    timeout http-keep-alive 10s',
    '    timeout client 60s',
    // Above the app's requestTimeout (30 s): the app answers first.
    '    timeout server 60s',
    // /api/realtime: an upgraded WebSocket is a tunnel.
    '    timeout tunnel 1h',
    '    timeout check 1s',
    // HAProxy's own 503s (queue timeout, no instance up) in the API's error shape.
    `    http-error ${overloadedAnswer()}`,
    '',
    'listen stats',
    `    bind 127.0.0.1:${layout.statsPort}`,
    '    stats enable',
    '    stats uri /',
    '',
    'frontend api',
    `    bind 127.0.0.1:${layout.apiPort}`,
    ...(layout.requestLog ? ['    log global', `    log-format "${REQUEST_LOG_FORMAT}"`] : []),
    // Node answers `Keep-Alive: timeout=65` (its own idle timeout); passed through, a client
    // keeps a connection idle for up to 65 s that HAProxy closes after 10 s and reuses it just
    // as it closes ("other side closed": measured in test/integration/fleet.test.ts). Advertise
    // HAProxy's own idle limit, with margin, instead.
    '    http-response set-header Keep-Alive timeout=5',
    // The instances trust X-Forwarded-For from 127.0.0.1, HAProxy's address, and `option
    // forwardfor` appends the client's address to whatever the client sent. A client's own
    // header would then be read as a proxy's (every client here also comes from 127.0.0.1 to
    // HAProxy, a trusted address, so proxy-addr skips it and takes the next, the client's
    // claim): a new made-up address per failed login, and the per-address limit never applied.
    // Dropped here, so the one entry the instance sees is the one HAProxy added.
    '    http-request del-header X-Forwarded-For',
    // Which instance answered (its name in this file, e.g. api2): lets an operator or a test
    // tell instances apart through the proxy (test/integration/fleet-coherence.test.ts).
    '    http-response set-header X-BGC-Instance %[srv_name]',
    '    acl probe path /healthz /readyz',
    '    acl realtime path /api/realtime',
    `    http-request return ${overloadedAnswer()} if !probe !realtime { queue(instances) ge ${queueLimit} }`,
    '    use_backend realtime if realtime',
    '    default_backend instances',
    '',
    'backend instances',
    '    balance leastconn',
    '    option httpchk GET /readyz',
    '    http-check expect status 200',
    `    default-server inter ${CHECK_INTER_MS}ms fall ${CHECK_FALL} rise 2 pool-purge-delay 5s`,
    ...layout.instances.map((i) => `    server ${i.name} 127.0.0.1:${i.port} check maxconn ${a.instanceMaxconn}`),
    '',
    'backend realtime',
    '    balance leastconn',
    '    default-server pool-purge-delay 5s',
    // Same instances, same health: each follows its `instances` check.
    ...layout.instances.map((i) => `    server ${i.name} 127.0.0.1:${i.port} track instances/${i.name}`),
    '',
  ].join('\n');
}
