import crypto from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { sleep, spawnTracked, stopProcess } from './processes.ts';
import { freePort } from './free-port.ts';
import { PromSnapshot, parsePromText } from './prom-text.ts';

/** Where the server under test finds its data stores (possibly through the latency proxy). */
export interface Endpoints {
  readonly primaryUrl: string;
  readonly replicaUrls: readonly string[];
  readonly redisUrl: string;
}

export interface ServerOptions {
  readonly endpoints: Endpoints;
  /** The naive "before phase 1" configuration (BGC_BASELINE=true). */
  readonly baseline: boolean;
  readonly extraEnv?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
  /** Node options for the server process (`--cpu-prof …`, from `bgc bench --cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

/**
 * The API server under test: `node bin/bgc.js serve` in its own process, production
 * settings (no SQL logging, admin token required), free ports, LOG_LEVEL=warn. The
 * harness waits for /readyz (which includes cache warm-up) and always stops it.
 */
export class ServerUnderTest {
  readonly #child: ChildProcess;
  #output = '';

  private constructor(child: ChildProcess, readonly port: number, readonly adminPort: number, readonly adminToken: string, readonly options: ServerOptions) {
    this.#child = child;
    const keep = (d: Buffer) => { this.#output = (this.#output + d.toString()).slice(-8_000); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(options: ServerOptions): Promise<ServerUnderTest> {
    const port = await freePort();
    const adminPort = await freePort();
    const adminToken = crypto.randomBytes(24).toString('hex');
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
      DATABASE_URL: options.endpoints.primaryUrl,
      DATABASE_REPLICA_URLS: options.endpoints.replicaUrls.join(','),
      REDIS_URL: options.endpoints.redisUrl,
      BGC_BASELINE: options.baseline ? 'true' : 'false',
      ...options.extraEnv,
    };
    const child = spawnTracked(process.execPath, [...(options.nodeArgs ?? []), 'bin/bgc.js', 'serve'], env);
    const server = new ServerUnderTest(child, port, adminPort, adminToken, options);
    await server.#waitReady(options.readyTimeoutMs ?? 120_000);
    return server;
  }

  get baseUrl(): string { return `http://127.0.0.1:${this.port}`; }
  get pid(): number | undefined { return this.#child.pid; }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
        throw new Error(`the server under test exited (${this.#child.exitCode ?? this.#child.signalCode}) before it was ready:\n${this.#output}`);
      }
      try {
        const res = await fetch(`${this.baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${(await res.text()).slice(0, 300)}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(200);
    }
    await this.stop();
    throw new Error(`the server under test was not ready within ${timeoutMs} ms (last /readyz: ${last}):\n${this.#output}`);
  }

  /** One scrape of the admin port's /metrics. */
  async metrics(): Promise<PromSnapshot> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`, {
      headers: { authorization: `Bearer ${this.adminToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`/metrics answered HTTP ${res.status}`);
    return new PromSnapshot(parsePromText(await res.text()));
  }

  /** All instances' scrapes as one (PromSnapshot.merge): the bench's `--haproxy --instances N`. */
  static async metricsOf(servers: readonly ServerUnderTest[]): Promise<PromSnapshot> {
    return PromSnapshot.merge(await Promise.all(servers.map((s) => s.metrics())));
  }

  /** Recent server output, for error reports. */
  get output(): string { return this.#output; }

  async stop(): Promise<void> {
    await stopProcess(this.#child, 15_000);
  }
}
