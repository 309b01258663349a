import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from '../logging/logger.ts';
import type { Services } from '../services/index.ts';
import type { LoginRateLimiter } from '../cache/rate-limit.ts';
import type { Realtime } from '../realtime/index.ts';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly primary: { readonly ok: boolean; readonly error?: string };
  readonly replicas: ReadonlyArray<Record<string, unknown>>;
  readonly redis: { readonly ok: boolean; readonly error?: string };
  readonly warmedUp: boolean;
  /** SIGTERM received: not ready, so the load balancer drains this instance (docs/OPERATIONS.md). */
  readonly draining: boolean;
}

/** Everything the HTTP layer needs, built once by the runtime (or by a test). */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Database;
  readonly metrics: Metrics;
  readonly services: Services;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Failed-login limits (POST /api/auth/login); absent in apps built without one. */
  readonly loginLimiter?: LoginRateLimiter;
  /** Real-time delivery (/api/realtime, presence); absent when disabled or in apps built without it. */
  readonly realtime?: Realtime;
}
