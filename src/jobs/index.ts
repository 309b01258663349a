import crypto from 'node:crypto';
import os from 'node:os';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import { LeaderLock, SCHEDULER_LOCK_KEY } from '../db/leader-lock.ts';
import type { Logger } from '../logging/logger.ts';
import { partitionMetricsFor } from '../metrics/partitions.metrics.ts';
import type { Metrics } from '../metrics/registry.ts';
import { partitionHealth } from '../partitions/index.ts';
import { partitionMaintenanceJob } from './partition-maintenance.job.ts';
import { idempotencyExpiryJob } from './idempotency-expiry.job.ts';
import { orphanFilesJob, type ImageStore } from './orphan-files.job.ts';
import { unlinkedChatImagesJob } from './unlinked-chat-images.job.ts';
import { sessionExpiryJob } from './session-expiry.job.ts';
import { PhotoRepository } from '../repositories/photos.repository.ts';
import { ChatImageRepository } from '../repositories/chat-images.repository.ts';
import { createStorage } from '../storage/create-storage.ts';
import { Scheduler } from './scheduler.ts';

export { Scheduler, type JobSpec, type JobContext, type JobState } from './scheduler.ts';
export { partitionMaintenanceJob } from './partition-maintenance.job.ts';

export interface BackgroundDeps {
  readonly config: Config;
  readonly db: Database;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface Background {
  /** Null when config.jobsEnabled is false. */
  readonly scheduler: Scheduler | null;
  stop(): Promise<void>;
}

/** The two image stores (src/storage/create-storage.ts) and their tables, for the orphan-file sweep. */
function imageStores(deps: BackgroundDeps): ImageStore[] {
  const photos = new PhotoRepository(deps.db);
  const chatImages = new ChatImageRepository(deps.db);
  return [
    { name: 'photos', storage: createStorage(deps.config.photoStorage, 'photos'), existingIds: (ids) => photos.existingIds(ids) },
    { name: 'chat-images', storage: createStorage(deps.config.photoStorage, 'chat-images'), existingIds: (ids) => chatImages.existingIds(ids) },
  ];
}

/** host:pid:random — distinguishes instances in partition_runs and scheduled_jobs. */
export function newInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(2).toString('hex')}`;
}

/**
 * Background work of one app instance. Partition health metrics are wired on every
 * instance (any instance can answer the alert queries); the scheduler runs only when
 * config.jobsEnabled, and its leader-only jobs only on the elected leader. Later jobs
 * (cache warming, stats snapshots, the monthly report) register here with
 * `scheduler.register({ name, intervalMs, run })`.
 */
export function startBackground(deps: BackgroundDeps): Background {
  const partitionMetrics = partitionMetricsFor(deps.metrics);
  partitionMetrics.setSource(() => deps.db.withPrimaryClient((c) => partitionHealth(c, new Date())));
  if (!deps.config.jobsEnabled) return { scheduler: null, stop: async () => undefined };
  const instanceId = newInstanceId();
  let lost: (reason: string) => void = () => undefined;
  const leader = new LeaderLock({
    url: deps.config.database.primaryUrl,
    key: SCHEDULER_LOCK_KEY,
    applicationName: 'bgc-scheduler',
    onLost: (reason) => lost(reason),
  });
  const scheduler = new Scheduler({ leader, instanceId, logger: deps.logger, metrics: deps.metrics });
  lost = (reason) => scheduler.leadershipLost(reason);
  scheduler.register(partitionMaintenanceJob({ config: deps.config, metrics: partitionMetrics }));
  scheduler.register(idempotencyExpiryJob({ db: deps.db }));
  scheduler.register(sessionExpiryJob({ db: deps.db }));
  scheduler.register(orphanFilesJob({ stores: imageStores(deps) }));
  scheduler.register(unlinkedChatImagesJob({ images: new ChatImageRepository(deps.db) }));
  scheduler.start();
  return { scheduler, stop: () => scheduler.stop() };
}
