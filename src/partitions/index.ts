/**
 * Partition lifecycle (docs/ARCHITECTURE.md "Partitions"): monthly partitions of messages
 * and status_updates are created ahead by a clock-based reconciler, created on demand by
 * writers, and archived (detach → export → verify → drop) once past retention.
 */
export { ensureMonthPartition, ensureMonthPartitions, createStatements, relationState } from './create.ts';
export { withPartitionRetry, isMissingPartitionError } from './on-demand.ts';
export { runMaintenance, planMaintenance, type MaintenanceReport, type MaintenanceAction, type MaintenanceOptions } from './maintenance.ts';
export { restorePartition, type RestoreResult } from './restore.ts';
export { partitionStatus, partitionHealth, MAINTENANCE_JOB_NAME, type PartitionStatus, type PartitionHealth } from './status.ts';
export { PartitionError, type PartitionErrorCode } from './errors.ts';
export { systemClock, type Clock } from './policy.ts';
export type { MaintenanceHooks, PlannedStatement } from './types.ts';
export * from './naming.ts';
