import crypto from 'node:crypto';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logging/logger.ts';
import type { Metrics } from '../metrics/registry.ts';
import { realtimeMetricsFor } from '../metrics/realtime.metrics.ts';
import { RealtimeBus, type RealtimeBusOptions } from '../cache/realtime-bus.ts';
import { RealtimeRepository } from '../repositories/realtime.repository.ts';
import { SessionRepository } from '../repositories/sessions.repository.ts';
import { DbSessionResolver } from '../services/auth/session-resolver.ts';
import type { Services } from '../services/index.ts';
import { RealtimeHub } from './hub.ts';
import { PresenceReader } from './presence.ts';

export { RealtimeHub, type RealtimeSettings } from './hub.ts';
export { PresenceReader, type PresenceView } from './presence.ts';
export { CLOSE, MAX_FRAME_BYTES } from './protocol.ts';

/** What the HTTP layer and the runtime need from the real-time layer. */
export interface Realtime {
  readonly hub: RealtimeHub;
  readonly presence: PresenceReader;
  close(): Promise<void>;
}

/**
 * Starts one instance's real-time layer (docs/ARCHITECTURE.md, "Real-time delivery"), or
 * nothing when BGC_REALTIME_ENABLED is false. Redis is reached through src/cache: the
 * cache layer's command connection when it runs (`shared`), plus a subscriber of its own.
 * Start-up waits at most a second for Redis; without it the instance serves sockets and
 * tells them to resync once Redis is back.
 */
export async function startRealtime(config: Config, deps: {
  db: Database; services: Services; metrics: Metrics; logger: Logger; shared?: RealtimeBusOptions['shared']; name?: string;
}): Promise<Realtime | undefined> {
  if (!config.realtime.enabled) return undefined;
  const bus = new RealtimeBus({ url: config.redis, namespace: config.realtime.namespace, name: deps.name ?? 'api', shared: deps.shared });
  await bus.start(1_000);
  const repo = new RealtimeRepository(deps.db);
  const presenceStore = bus.presenceStore(crypto.randomBytes(6).toString('hex'));
  const hub = new RealtimeHub({
    settings: config.realtime,
    authenticate: (token) => deps.services.auth.authenticate(token),
    sessionStore: new DbSessionResolver(new SessionRepository(deps.db)),
    relationships: deps.services.readers.relationship,
    profiles: deps.services.readers.profile,
    repo,
    bus,
    presence: presenceStore,
    metrics: realtimeMetricsFor(deps.metrics),
    logger: deps.logger,
  });
  hub.attach(deps.services.hooks);
  hub.start();
  return { hub, presence: new PresenceReader(deps.services.profiles, presenceStore), close: () => hub.close() };
}
