import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../../../config/index.ts';
import { startRuntime } from '../../../app/runtime.ts';
import { createLogger } from '../../../logging/logger.ts';
import { LocalStack } from '../../stack/stack.ts';
import { Database } from '../../../db/database.ts';
import { migrate } from '../../../db/migrator.ts';
import { progressLine } from '../output.ts';

async function serve(config: Config): Promise<void> {
  const logger = createLogger(config);
  const runtime = await startRuntime(config, { logger });
  logger.info({ api: runtime.ports.api, admin: runtime.ports.admin, env: config.env }, 'bgc serving');
  // Graceful drain (docs/OPERATIONS.md, "Graceful drain"): fail /readyz first and keep serving
  // for BGC_DRAIN_MS, long enough for the load balancer's health checks to take this instance
  // out (HAProxy: fall × inter); only then stop accepting, finish in-flight requests, exit.
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    // A second signal (npm forwarding it again, Ctrl-C twice) must not cut the drain short:
    // handled, and ignored, for as long as the process lives.
    if (shuttingDown) { logger.info({ signal }, 'already draining'); return; }
    shuttingDown = true;
    runtime.startDraining();
    logger.info({ signal, drainMs: config.drainMs }, 'draining: /readyz fails, still serving until the load balancer stops sending');
    const force = setTimeout(() => process.exit(1), config.drainMs + 15_000);
    force.unref();
    setTimeout(() => {
      logger.info('shutting down: finishing in-flight requests, closing pools');
      runtime.close().then(() => process.exit(0), () => process.exit(1));
    }, config.drainMs);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

export function register(program: Command): void {
  program.command('serve')
    .description('Serve the API (PORT) and the admin port (ADMIN_PORT)')
    .action(async () => serve(loadConfig()));

  program.command('start')
    .description('npm start: bring up the local stack if no URLs are set, migrate, seed demo data when empty, serve')
    .action(async () => {
      const config = loadConfig();
      if (config.usesLocalStack) {
        progressLine('starting the local stack');
        // The app's own ports are checked with the stack's, before anything starts (port 0 = any free one).
        const app = [{ port: config.http.port, name: 'API (PORT)' }, { port: config.http.adminPort, name: 'admin (ADMIN_PORT)' }];
        await new LocalStack(config).up(progressLine, { alsoFree: app.filter((p) => p.port !== 0).map((p) => ({ ...p, ours: false })) });
      }
      const db = new Database(config, { applicationName: 'bgc-migrate', lazy: true, session: true });
      try {
        await db.withPrimaryClient((c) => migrate(c, path.join(config.projectRoot, 'migrations'), (m) => progressLine(`applying ${m.name}`), (m, attempt, ms) => progressLine(`${m.name}: a lock it needs is held by another session; attempt ${attempt} rolled back after ${ms} ms in all, trying again`)));
        const { seedIfEmpty } = await import('../../seed/seed-if-empty.ts');
        await seedIfEmpty(config, db, progressLine);
      } finally { await db.close(); }
      await serve(config);
    });
}
