import type { Config } from '../../../config/index.ts';
import { sentinelEnv, sentinelLayoutFor } from './layout.ts';
import { SentinelStack, type SentinelNodeStatus } from './sentinel-stack.ts';

/**
 * `bgc stack up|status|down --sentinel`: the Sentinel set of this checkout (src/tools/stack/sentinel)
 * beside the plain stack. `up` returns the settings an app needs to use it.
 */
export function sentinelFor(config: Config): SentinelStack {
  return new SentinelStack(sentinelLayoutFor(config));
}

export async function sentinelUp(config: Config, progress: (line: string) => void): Promise<Record<string, string>> {
  const stack = sentinelFor(config);
  const started = Date.now();
  await stack.up(progress);
  const env = sentinelEnv(stack.layout);
  progress(`Redis Sentinel set up in ${((Date.now() - started) / 1000).toFixed(1)} s; use it with ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return env;
}

/** Table rows for `bgc stack status` (only when some node of the set runs). */
export async function sentinelStatusRows(config: Config): Promise<Array<Record<string, unknown>>> {
  const stack = sentinelFor(config);
  if (stack.members.every((m) => m.pid() === null)) return [];
  const status = await stack.status();
  return status.nodes.map((n: SentinelNodeStatus) => ({ sentinel_set: n.name, role: n.role, port: n.port, pid: n.pid, detail: n.detail }));
}
