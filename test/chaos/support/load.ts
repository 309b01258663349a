/**
 * A bounded closed-loop HTTP load generator for the chaos scenarios: `workers` loops,
 * each running one step at a time against a real listening runtime, until stopped or
 * until the hard deadline. Every response is recorded as a Sample, so a scenario can
 * ask afterwards "which reads failed, when, and with what status and code".
 */
export type Kind = 'read' | 'write';

export interface Sample {
  readonly at: number;
  readonly kind: Kind;
  readonly name: string;
  /** HTTP status; 0 when no response arrived at all (connection refused/reset, timeout). */
  readonly status: number;
  readonly code: string | undefined;
  readonly retryAfter: string | undefined;
  readonly ms: number;
  /** Set when the response was a 2xx but wrong (e.g. a stale read after a write). */
  readonly problem?: string;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers | undefined;
}

export interface RequestSpec {
  readonly kind: Kind;
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  readonly lsn?: string;
}

export interface Client {
  send(spec: RequestSpec): Promise<Reply>;
  /** Records a failed expectation on an otherwise successful response. */
  flag(kind: Kind, name: string, problem: string): void;
}

export type Step = (client: Client, worker: number, iteration: number) => Promise<void>;

const REQUEST_TIMEOUT_MS = 15_000;

export function httpClient(baseUrl: string, samples: Sample[]): Client {
  return {
    async send(spec) {
      const started = Date.now();
      const headers: Record<string, string> = {};
      if (spec.token) headers.authorization = `Bearer ${spec.token}`;
      if (spec.lsn) headers['x-bgc-lsn'] = spec.lsn;
      if (spec.body !== undefined) headers['content-type'] = 'application/json';
      let reply: Reply;
      try {
        const res = await fetch(`${baseUrl}${spec.path}`, {
          method: spec.method, headers,
          body: spec.body !== undefined ? JSON.stringify(spec.body) : undefined,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
        reply = { status: res.status, body, headers: res.headers };
      } catch (err) {
        reply = { status: 0, body: err instanceof Error ? err.message : String(err), headers: undefined };
      }
      const code = (reply.body as { error?: { code?: string } } | null)?.error?.code;
      samples.push({
        at: started, kind: spec.kind, name: spec.name, status: reply.status, code,
        retryAfter: reply.headers?.get('retry-after') ?? undefined, ms: Date.now() - started,
      });
      return reply;
    },
    flag(kind, name, problem) {
      samples.push({ at: Date.now(), kind, name, status: 200, code: undefined, retryAfter: undefined, ms: 0, problem });
    },
  };
}

export interface LoadRun {
  readonly samples: Sample[];
  /** Stops the loops after their current step and waits for them. */
  stop(): Promise<void>;
}

/** Starts `workers` loops of `step`; they end at stop() or after `maxMs`, whichever is first. */
export function startLoad(opts: { baseUrl: string; workers: number; maxMs: number; step: Step }): LoadRun {
  const samples: Sample[] = [];
  const client = httpClient(opts.baseUrl, samples);
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  const loops = Array.from({ length: opts.workers }, async (_, w) => {
    for (let i = 0; !stopped && Date.now() < deadline; i++) {
      try {
        await opts.step(client, w, i);
      } catch (err) {
        // A step that throws is a harness bug or a body we could not read: count it as a failure.
        client.flag('read', 'step', `step threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
  return {
    samples,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

export const isFailure = (s: Sample): boolean => s.status === 0 || s.status >= 500 || s.problem !== undefined;

export interface Tally {
  readonly requests: number;
  readonly reads: number;
  readonly writes: number;
  readonly failedReads: number;
  readonly failedWrites: number;
  readonly byStatus: Record<string, number>;
}

export function tally(samples: readonly Sample[]): Tally {
  const byStatus: Record<string, number> = {};
  for (const s of samples) {
    const key = s.problem ? 'stale' : s.status === 0 ? 'no_response' : String(s.status);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }
  return {
    requests: samples.filter((s) => !s.problem).length,
    reads: samples.filter((s) => s.kind === 'read' && !s.problem).length,
    writes: samples.filter((s) => s.kind === 'write' && !s.problem).length,
    failedReads: samples.filter((s) => s.kind === 'read' && isFailure(s)).length,
    failedWrites: samples.filter((s) => s.kind === 'write' && isFailure(s)).length,
    byStatus,
  };
}

/** Describes the first few failures, for assertion messages. */
export function describeFailures(samples: readonly Sample[], limit = 5): string {
  return samples.filter(isFailure).slice(0, limit)
    .map((s) => `${s.kind} ${s.name} → ${s.status}${s.code ? ` ${s.code}` : ''}${s.problem ? ` (${s.problem})` : ''}`).join('; ');
}
