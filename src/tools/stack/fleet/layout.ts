import path from 'node:path';

/** Where a fleet's processes live and listen (`bgc stack up --instances N`). */
export interface FleetInstanceLayout {
  readonly name: string;
  readonly port: number;
  readonly adminPort: number;
  /** Its pid file, log and env file; the env file's path on its command line marks it as ours. */
  readonly dir: string;
}

export interface FleetLayout {
  readonly dir: string;
  /** The port clients use: HAProxy's. */
  readonly apiPort: number;
  readonly statsPort: number;
  readonly instances: readonly FleetInstanceLayout[];
  /** BGC_DRAIN_MS of each instance: longer than HAProxy needs to mark a draining one down. */
  readonly drainMs: number;
  readonly admission: ProxyAdmission;
  /**
   * HAProxy writes one line per request to its log file (status, timers, server; see
   * REQUEST_LOG_FORMAT in haproxy-config.ts). Off for `bgc stack up --instances`, whose log has
   * no rotation; on in `bgc bench --haproxy`, which times the proxy's own refusals from it.
   */
  readonly requestLog: boolean;
}

/**
 * Admission at HAProxy (docs/RELIABILITY.md, "Overload"): each instance gets at most
 * `instanceMaxconn` requests at once and the rest wait in HAProxy's queue; a new request that
 * finds `queuePerInstance` × instances already waiting is refused with 503 at the proxy, and a
 * queued one that waited `queueTimeoutMs` too. An instance's event loop then never sees the
 * excess: refused there, a request waited for that loop to read it (tens of ms at the client
 * under overload on two cores) before it could be refused in under 5 ms.
 */
export interface ProxyAdmission {
  readonly instanceMaxconn: number;
  readonly queuePerInstance: number;
  readonly queueTimeoutMs: number;
}

/**
 * An instance's own admission slots at the default pool (10 + 20 overflow, one slot per
 * connection), and 100 queued at the proxy. In the overload scenario through HAProxy
 * (docs/PERFORMANCE.md, "Overload: admission at HAProxy") 30 + 30 answered 1,402-1,698 2xx/s
 * at 2xx p99 83-117 ms; 60 + 60 answered 1,304-1,332 at p99 163-172 ms (more requests waiting
 * inside the instance, not in the proxy). The queue went from 30 to 100 per instance
 * ("A queue that absorbs a stall", 2026-12-07): with 30, 10,000 clients at 2,000 req/s (half
 * the capacity) got 27-28 refusals in the one second the instance stalled, in each of two runs;
 * with 100, none in two runs, and overload's 2xx/s did not change (3,828-4,017 against
 * 3,893-3,903), its 2xx p99 60 -> 83-87 ms (the queue's wait: 100 / ~4,000 per second).
 * The instance's own queue-delay admission still decides within this.
 */
export const DEFAULT_PROXY_ADMISSION: ProxyAdmission = { instanceMaxconn: 30, queuePerInstance: 100, queueTimeoutMs: 500 };

/** HAProxy health checks: every 500 ms, down after 2 failures, so a draining instance is out within ~1.5 s. */
export const CHECK_INTER_MS = 500;
export const CHECK_FALL = 2;
/** Twice the time HAProxy needs (fall × inter plus a check's timeout), for a loaded machine. */
export const DEFAULT_DRAIN_MS = 2 * (CHECK_FALL * CHECK_INTER_MS + 1_000);

/** At most this many instances: their ports must stay inside the 100 ports one BGC_STACK_PORT_OFFSET step owns. */
export const MAX_INSTANCES = 40;

/**
 * Instance i (1-based) listens on apiPort + 9 + i and its admin port on apiPort + 49 + i (DESIGN
 * §7: instances on 3010+), unless ports are given; the stats page on apiPort + 9. Everything
 * stays below apiPort + 100, where the next port offset's stack begins. (Instance i on
 * apiPort + i collided with instance i-1's admin port on adminPort + i - 1 = apiPort + i.)
 */
export function buildFleetLayout(root: string, opts: {
  count: number; apiPort: number; instancePorts?: readonly number[]; adminPorts?: readonly number[]; statsPort?: number; drainMs?: number;
  admission?: ProxyAdmission; requestLog?: boolean;
}): FleetLayout {
  const dir = path.join(root, 'fleet');
  const instances = Array.from({ length: opts.count }, (_, i) => {
    const name = `api${i + 1}`;
    return {
      name,
      port: opts.instancePorts?.[i] ?? opts.apiPort + 10 + i,
      adminPort: opts.adminPorts?.[i] ?? opts.apiPort + 50 + i,
      dir: path.join(dir, name),
    };
  });
  return { dir, apiPort: opts.apiPort, statsPort: opts.statsPort ?? opts.apiPort + 9, instances, drainMs: opts.drainMs ?? DEFAULT_DRAIN_MS,
    admission: opts.admission ?? DEFAULT_PROXY_ADMISSION, requestLog: opts.requestLog ?? false,
  };
}
