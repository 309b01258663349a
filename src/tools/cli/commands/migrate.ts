import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../../config/index.ts';
import { Database } from '../../../db/database.ts';
import { migrate, migrationStatus } from '../../../db/migrator.ts';
import { printJson, printTable, progressLine } from '../output.ts';

export function register(program: Command): void {
  const cmd = program.command('migrate')
    .description('Apply pending migrations (forward-only, under an advisory lock)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const db = new Database(config, { applicationName: 'bgc-migrate', lazy: true, session: true });
      try {
        const applied = await db.withPrimaryClient((c) => migrate(c, path.join(config.projectRoot, 'migrations'), (m) => progressLine(`applying ${m.name}`), (m, attempt, ms) => progressLine(`${m.name}: a lock it needs is held by another session; attempt ${attempt} rolled back after ${ms} ms in all, trying again`)));
        if (opts.json) printJson({ applied: applied.map((m) => m.name) });
        else progressLine(applied.length === 0 ? 'database is up to date' : `applied ${applied.length} migration(s)`);
      } finally { await db.close(); }
    });
  cmd.command('status')
    .description('List migrations and whether each is applied')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const db = new Database(config, { applicationName: 'bgc-migrate', lazy: true, session: true });
      try {
        const status = await db.withPrimaryClient((c) => migrationStatus(c, path.join(config.projectRoot, 'migrations')));
        if (opts.json) printJson(status); else printTable(status as unknown as Record<string, unknown>[]);
      } finally { await db.close(); }
    });
}
