import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics/registry.ts';
import { ERROR_CATALOGUE } from '../errors/app-error.ts';
import { AdmissionController, type ShedReason } from './admission/admission-controller.ts';
import { AdmissionQueue } from './admission/admission-queue.ts';
import { RETRY_AFTER_SECONDS } from './error-handler.ts';
import { corsHeadersFor } from './cors.ts';
import { UPGRADE_PATH } from './stray-upgrades.ts';

/**
 * Admission control by queueing delay (src/http/admission): a new request is refused with
 * 503 OVERLOADED + Retry-After at once, before any authentication, cache or database work
 * (a request with a body: before it is read; its slot comes once it has been, below),
 * while a queue in front of the work is standing (its shortest wait over an interval was
 * above the target).
 *
 * Why not a fixed in-flight limit (what this guard used to be): offered 1,000 connections,
 * requests waited up to the 3 s pool acquire timeout and then failed, and a fixed limit
 * that prevented it also cut successful answers, because the right limit moves with the
 * request mix (docs/PERFORMANCE.md). Queueing delay is the symptom itself: when requests
 * wait longer than the target, the excess is refused in well under a millisecond and the
 * admitted ones keep the database busy at capacity (Facebook, "Fail at Scale", 2015).
 *
 * Two layers (src/http/admission):
 *  - a queue we own in front of the work (AdmissionQueue): at most BGC_OVERLOAD_SLOTS_PER_CONNECTION ×
 *    the pool's capacity requests run at once, the rest wait with a controlled delay (refused
 *    after the interval normally, after the target while the queue is standing) and are
 *    served newest first while it stands (adaptive LIFO). Without it, admitted requests
 *    queued where nothing refuses them (the pools' FIFO, the event loop): at 4× capacity the
 *    first measurement of the overload scenario had 2xx p99 9.7 s and 635 client timeouts;
 *  - at once, before queueing: while a pool's acquire wait is standing (AdmissionController),
 *    a new request is refused without waiting.
 * Event-loop lag is no longer a reason to refuse: the slots bound the work admitted, and lag
 * from CPU taken by other processes is not a queue of ours. Refusing on it fed itself: cheap
 * refusals let closed-loop clients send more, which lagged the loop more (the overload
 * scenario's capacity run: 3,741 of 4,988 answers were refusals, 80 2xx/s instead of 923).
 *
 * Liveness and readiness probes are exempt: an overloaded instance is alive, and a load
 * balancer must not take every instance out at once because all of them are busy.
 */
// /api/realtime has its own limit (BGC_REALTIME_MAX_CONNECTIONS): an upgraded socket is
// long-lived, and its upgrade request does not wait in the pool queue.
const EXEMPT = new Set(['/healthz', '/readyz', UPGRADE_PATH]);

/** What the guard needs from the database layer: each checkout's wait, and who waits now. */
export interface PoolQueues {
  onAcquireWait(listener: (pool: string, waitMs: number) => void): () => void;
  poolStats(): ReadonlyArray<{ readonly node: string; readonly waiting: number }>;
}

export interface OverloadGuardOptions {
  /** Queueing delay target in ms; 0 turns the guard off. */
  readonly targetMs: number;
  readonly intervalMs: number;
  /**
   * The pool's capacity (size + overflow): the admission queue runs slotsPerConnection × this
   * many requests at once (and AdmissionController takes it as its loopQueueFloor).
   */
  readonly loopQueueFloor: number;
  /**
   * Requests run at once per connection the pool may open (BGC_OVERLOAD_SLOTS_PER_CONNECTION):
   * enough to keep every connection busy while others are between queries (auth, cache,
   * serialization), few enough that the event loop is never the queue.
   */
  readonly slotsPerConnection: number;
  /** Admitted requests that may park their slot while they wait for a group commit (parkedBound). */
  readonly maxParked: number;
  /** BGC_CORS_ORIGINS: a refusal to an allowed origin carries its CORS headers (src/http/cors.ts). */
  readonly corsOrigins?: readonly string[];
}

/**
 * How many grouped writes may park at once: what the write groups carry (BGC_SEND_GROUP_MAX ×
 * BGC_SEND_GROUP_IN_FLIGHT: the running groups and the next ones), 0 with grouping off, when
 * each write holds its own connection. Not tied to the pool's size: a parked write needs a
 * connection of its own only when its group failed (members retried one by one) or its
 * Idempotency-Key is replayed, and such waits for a connection show in the pools' queue,
 * which the controller sheds on. With a pool of one, 40 senders must all be able to park.
 */
export function parkedBound(grouping: { readonly maxGroup: number; readonly maxInFlight: number }): number {
  return grouping.maxGroup <= 1 ? 0 : grouping.maxGroup * grouping.maxInFlight;
}

/** The slot of each admitted request, so its route can park it (parkAdmissionSlot). */
const admittedSlots = new WeakMap<IncomingMessage, AdmittedSlot>();

/**
 * An admitted request's slot: parked while its route waits for a grouped write, given back
 * once when the response closes. A class rather than closures made per request: the loader
 * (tsx, esbuild's keepNames) names every named closure with a defineProperty call.
 */
class AdmittedSlot {
  #parked = false;
  #closed = false;

  constructor(private readonly queue: AdmissionQueue) {}

  park(): void {
    if (!this.#parked && !this.#closed) this.#parked = this.queue.park();
  }

  /** Gives the slot back; once, whichever of the response or its socket closes first (whenGone). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#parked) this.queue.releaseParked(); else this.queue.release();
  }
}

/**
 * Calls `fn` once, when the response closes or its socket does. The response alone is not
 * enough: a pipelined request's response waits for its turn without a socket of its own, and
 * when the client hangs up meanwhile Node destroys the request but never closes that response
 * (no 'close', no 'finish', `destroyed` false), so a slot released on its 'close' leaked for
 * good; enough of them and every request was refused.
 */
function whenGone(req: IncomingMessage, res: ServerResponse, fn: () => void): void {
  const socket = req.socket;
  const gone = () => {
    res.off('close', gone);
    socket.off('close', gone);
    fn();
  };
  res.once('close', gone);
  socket.once('close', gone);
}

/** True once the client can no longer get this response (its socket closed, or it was destroyed). */
function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || req.socket.destroyed;
}

/**
 * Called by a route whose remaining work is a grouped write (a send, a post, a comment):
 * from here the request waits for a commit that one pool connection makes for the whole
 * group, so it gives its admission slot to the next request instead of holding it while it
 * waits (with one slot per pool connection, 50 closed-loop senders otherwise queued for
 * slots behind their own commits and were refused: docs/PERFORMANCE.md, "Overload").
 * Nothing happens when the guard is off or the parked requests are at their bound.
 */
export function parkAdmissionSlot(raw: IncomingMessage): void {
  admittedSlots.get(raw)?.park();
}


export function installOverloadGuard(app: FastifyInstance, opts: OverloadGuardOptions, deps: { db: PoolQueues; metrics?: Metrics }): void {
  if (opts.targetMs <= 0) return;
  const now = () => performance.now();
  // Under overload a waiter is refused after half the target: the refusal, with the time to
  // reach the request and write the answer, then stays within the target.
  const queue = new AdmissionQueue({ maxInFlight: opts.slotsPerConnection * opts.loopQueueFloor, maxParked: opts.maxParked, targetMs: opts.targetMs / 2, intervalMs: opts.intervalMs, now });
  const controller = new AdmissionController({
    inFlight: () => queue.inFlight,
    loopQueueFloor: opts.loopQueueFloor,
    targetMs: opts.targetMs,
    intervalMs: opts.intervalMs,
    now,
    waiting: (pool) => deps.db.poolStats().find((s) => s.node === pool)?.waiting ?? 0,
  });
  const offPool = deps.db.onAcquireWait((pool, ms) => controller.recordPoolWait(pool, ms));
  app.addHook('onClose', async () => { offPool(); });

  // Admission runs on the raw HTTP server, before Fastify builds its request and reply,
  // routes, runs hooks and serializes: under 4× overload most requests are refused, and
  // every microsecond a refusal costs is taken from the requests being served (through
  // Fastify a refusal cost enough that goodput fell to 21% of capacity at 4× offered;
  // docs/PERFORMANCE.md, "Overload"). Fastify attaches its handler when it is created.
  const server = app.server;
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  if (handlers.length === 0) throw new Error('overload guard: the HTTP server has no request handler to guard');
  server.removeAllListeners('request');
  const pass = (req: IncomingMessage, res: ServerResponse) => { for (const h of handlers) h.call(server, req, res); };

  const corsOrigins = new Set(opts.corsOrigins ?? []);
  // Closing: a refusal ends its connection, as every answer through Fastify does then (app.ts,
  // onSend). server.close() closes only the connections idle when it is called; a refusal sent
  // keep-alive after it left its connection open until the client's idle timeout, and the
  // close (and the instance's exit) waited for it.
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  const refuse = (req: IncomingMessage, res: ServerResponse, reason: ShedReason, startedAt: number) => {
    deps.metrics?.httpShed.inc({ reason });
    const origin = req.headers.origin;
    const headers = origin === undefined ? REFUSAL_HEADERS : { ...REFUSAL_HEADERS, ...corsHeadersFor(corsOrigins, origin) };
    res.writeHead(503, closing ? { ...headers, connection: 'close' } : headers);
    res.end(REFUSAL_BODY);
    deps.metrics?.httpDuration.observe({ route: SHED_ROUTE_LABEL, method: req.method ?? 'GET', status_class: '5xx' }, (now() - startedAt) / 1000);
  };
  const hold = (req: IncomingMessage, res: ServerResponse) => {
    const slot = new AdmittedSlot(queue);
    admittedSlots.set(req, slot);
    whenGone(req, res, () => slot.close());
  };
  /**
   * Takes a slot for the request (at once, after a wait, or not at all) and then calls
   * `admitted` or `refused`; nothing when the client left while it waited.
   */
  const takeSlot = (req: IncomingMessage, res: ServerResponse, admitted: () => void, refused: (reason: ShedReason) => void) => {
    const reason = controller.shedReason();
    if (reason !== undefined) { queue.noteOverload(); refused(reason); return; }
    const slot = queue.acquire();
    if ('now' in slot) {
      if (slot.now === 'admitted') { hold(req, res); admitted(); } else refused('queue');
      return;
    }
    // A client that gives up while waiting leaves the queue (and is never admitted).
    whenGone(req, res, slot.cancel);
    void slot.later.then((a) => {
      if (a === 'admitted') {
        if (clientGone(req, res)) { queue.release(); return; }
        hold(req, res);
        admitted();
      } else if (!clientGone(req, res)) refused('queue');
    });
  };

  // A request with a body takes its slot once the body has arrived (preValidation runs after
  // Fastify parsed it): a slot held while a client trickles its body in is a slot no other
  // request can use, and a few dozen slow uploads held every slot of an instance for the 30 s
  // request timeout, refusing everyone else. Before the body, such a request is only refused
  // if the queue already stands, as any other. A body that never completes, or is refused
  // (400, 413), never takes a slot.
  //
  // Requests whose bodies are being read are bounded too (AWAITING_BODIES_PER_SLOT × the
  // slots): each holds its body in memory (up to 8 MiB for an image) and has been
  // authenticated (a route's onRequest hook), with no slot yet. Past the bound, a new one is
  // refused before it is read; requests without a body are not affected.
  const maxAwaitingBodies = AWAITING_BODIES_PER_SLOT * opts.slotsPerConnection * opts.loopQueueFloor;
  let awaitingBodies = 0;
  const bodyArrived = new WeakMap<IncomingMessage, () => void>();
  const awaitBody = (req: IncomingMessage, res: ServerResponse) => {
    awaitingBodies++;
    let counted = true;
    const uncount = () => { if (counted) { counted = false; awaitingBodies--; } };
    bodyArrived.set(req, uncount);
    // A body that never completes, or is refused (400, 413), ends here instead.
    whenGone(req, res, uncount);
  };
  app.addHook('preValidation', (request, reply, done) => {
    const req = request.raw;
    const arrived = bodyArrived.get(req);
    if (!arrived) { done(); return; }
    bodyArrived.delete(req);
    arrived();
    takeSlot(req, reply.raw, done, (reason) => {
      deps.metrics?.httpShed.inc({ reason });
      void reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).type(REFUSAL_HEADERS['content-type']).send(REFUSAL_BODY);
    });
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // A CORS preflight does no work of ours (src/http/cors.ts answers it): refusing it would
    // turn the browser's 503 into a network error it cannot read.
    if (EXEMPT.has(req.url ?? '') || req.method === 'OPTIONS') { pass(req, res); return; }
    const startedAt = now();
    if (hasBody(req)) {
      const reason = controller.shedReason() ?? (queue.refusesNewcomers() ? 'queue' : undefined);
      if (reason !== undefined) { queue.noteOverload(); refuse(req, res, reason, startedAt); return; }
      // Not an overload of the work (slow senders can fill it): the queue's mode is left alone.
      if (awaitingBodies >= maxAwaitingBodies) { refuse(req, res, 'queue', startedAt); return; }
      awaitBody(req, res);
      pass(req, res);
      return;
    }
    takeSlot(req, res, () => pass(req, res), (reason) => refuse(req, res, reason, startedAt));
  });
}

/** True when the request says a body follows (a length above 0, or a chunked body). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** Requests with a body being read, per admission slot, before new ones are refused (installOverloadGuard). */
export const AWAITING_BODIES_PER_SLOT = 4;

/** The route label of refusals in bgc_http_request_duration_seconds: they are refused before routing. */
export const SHED_ROUTE_LABEL = '(admission)';

/**
 * The 503 OVERLOADED answer, built once: the API's error shape, Retry-After, and the headers
 * every API answer carries (src/http/app.ts, onSend).
 */
const REFUSAL_BODY = Buffer.from(JSON.stringify({ error: { code: 'OVERLOADED', message: ERROR_CATALOGUE.OVERLOADED.message } }));
const REFUSAL_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'content-length': String(REFUSAL_BODY.length),
  'retry-after': String(RETRY_AFTER_SECONDS),
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
} as const;
