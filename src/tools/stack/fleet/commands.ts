import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../../config/index.ts';
import { Fleet } from './fleet.ts';
import { buildFleetLayout, MAX_INSTANCES } from './layout.ts';

/**
 * `bgc stack up|down|status --instances`: the fleet of src/tools/stack/fleet on this checkout's
 * ports: HAProxy on PORT, instance i on PORT + 9 + i (admin PORT + 49 + i), stats on PORT + 9.
 * The database is the one the environment names (the local stack when no URLs are set), and
 * it must be migrated (`bgc migrate`) before.
 */
export function fleetFor(config: Config, count?: number, env: Record<string, string> = {}): Fleet {
  const root = config.dataDir;
  const n = count ?? existingCount(path.join(root, 'fleet'));
  return new Fleet(buildFleetLayout(root, { count: n, apiPort: config.http.port }), config.projectRoot, env);
}

/** Instances a previous `up` left folders for (api1, api2, …), so `down` finds every one. */
function existingCount(dir: string): number {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return 0; }
  return names.map((n) => /^api(\d+)$/.exec(n)?.[1]).reduce((max, d) => Math.max(max, d === undefined ? 0 : Number(d)), 0);
}

/** `env`: settings for every instance on top of ours (the PgBouncer URLs with --pgbouncer). */
export async function fleetUp(config: Config, count: number, progress: (line: string) => void, env: Record<string, string> = {}): Promise<Fleet> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_INSTANCES) throw new Error(`--instances: expected 1 to ${MAX_INSTANCES}, got ${count}`);
  const fleet = fleetFor(config, count, env);
  await fleet.up(progress);
  return fleet;
}
