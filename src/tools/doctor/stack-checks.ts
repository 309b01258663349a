import type { Config } from '../../config/index.ts';
import { LocalStack } from '../stack/stack.ts';
import type { Finding } from './types.ts';

/**
 * With no URLs set the app talks to whatever answers on the local stack's ports. The doctor
 * would then audit another checkout's servers as if they were this one's, so it says when a
 * port is held by a server this checkout did not start (or its own server sits on another port).
 */
export async function checkLocalStackOwnership(config: Config): Promise<Finding[]> {
  if (!config.usesLocalStack) return [];
  const localRedis = config.redis.url === `redis://127.0.0.1:${config.stack.redisPort}`;
  const nodes = (await new LocalStack(config).status()).filter((n) => n.role !== 'redis' || localRedis);
  return nodes.filter((n) => n.state === 'foreign' || n.state === 'moved').map((n): Finding => ({
    check: 'local_stack',
    severity: 'error',
    object: `${n.name} (127.0.0.1:${n.port})`,
    detail: n.state === 'foreign'
      ? `the port is held by ${n.holder?.description ?? 'another process'}, not by this checkout's ${n.name} (data in ${n.dir ?? '?'}); stop it or set BGC_STACK_PORT_OFFSET`
      : `this checkout's ${n.name} (pid ${n.pid ?? '?'}) runs on another port; \`bgc stack down\`, then \`bgc stack up\``,
  }));
}
