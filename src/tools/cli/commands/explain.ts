import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { allQueries } from '../../../catalog/all.ts';
import type { QueryDef } from '../../../catalog/types.ts';
import { loadConfig } from '../../../config/index.ts';
import { Database } from '../../../db/database.ts';
import { runAudit, type AuditResult } from '../../explain/audit.ts';
import { datasetSizes, formatMarkdown } from '../../explain/format-markdown.ts';
import { formatText } from '../../explain/format-text.ts';
import { CliError, printJson, progressLine } from '../output.ts';

interface ExplainOpts {
  /** Undefined unless --analyze or --no-analyze is given: ANALYZE is the default. */
  analyze?: boolean;
  genericPlan?: boolean;
  warm?: boolean;
  json?: boolean;
  out?: string;
  markdown?: string;
  set: string[];
  timeoutMs: string;
}

export function register(program: Command): void {
  program.command('explain')
    .description('EXPLAIN (ANALYZE, BUFFERS) every catalog entry with its sample parameters and flag bad plans (FR-008)')
    .argument('[names...]', 'catalog entries to audit (default: all)')
    .option('--analyze', 'run EXPLAIN ANALYZE, executing each statement (the default; writes are rolled back)')
    .option('--no-analyze', 'plans only: no execution, so no actual rows, buffers, spills or misestimates')
    .option('--generic-plan', 'audit the generic plans prepared statements may switch to (plan_cache_mode = force_generic_plan)')
    .option('--warm', 'run each EXPLAIN once unmeasured first on the same connection, so times reflect warm caches')
    .option('--json', 'machine-readable report on stdout')
    .option('--out <dir>', 'write each entry\'s full JSON plan to <dir>/<name>.json')
    .option('--markdown <file>', 'write the catalog with plan summaries as Markdown (docs/QUERIES.md)')
    .option('--set <name=value>', 'a setting for every EXPLAIN session, e.g. work_mem=64kB (repeatable)', collect, [])
    .option('--timeout-ms <ms>', 'statement timeout of each EXPLAIN', '120000')
    .addHelpText('after', '\nExits 1 when any entry raises a flag it does not justify (QueryDef.justify) or cannot be audited.')
    .action(async (names: string[], opts: ExplainOpts) => {
      const config = loadConfig();
      const defs = select(await allQueries(), names);
      const analyze = opts.analyze !== false;
      const db = new Database(config, { applicationName: 'bgc-explain', lazy: true, session: true });
      try {
        const result = await runAudit(db, defs, {
          analyze,
          planMode: opts.genericPlan ? 'generic' : 'custom',
          warmup: opts.warm ?? false,
          settings: parseSettings(opts.set),
          timeoutMs: parseTimeout(opts.timeoutMs),
          onProgress: progressLine,
        });
        if (opts.out) writePlans(opts.out, result);
        if (opts.markdown) {
          const command = `bgc explain --markdown ${opts.markdown}${analyze ? '' : ' --no-analyze'}${opts.genericPlan ? ' --generic-plan' : ''}${opts.warm ? ' --warm' : ''}`;
          fs.mkdirSync(path.dirname(path.resolve(opts.markdown)), { recursive: true });
          fs.writeFileSync(opts.markdown, formatMarkdown(result.report, await datasetSizes(db), command));
          progressLine(`wrote ${opts.markdown}`);
        }
        if (opts.json) printJson(result.report);
        else process.stdout.write(formatText(result.report));
        const s = result.report.summary;
        if (!s.ok) throw new CliError('EXPLAIN_FLAGS', `${s.unjustified} unjustified flag(s) and ${s.errors} error(s) in ${s.entries} entries`);
      } finally {
        await db.close();
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function select(all: readonly QueryDef[], names: readonly string[]): QueryDef[] {
  if (names.length === 0) return [...all];
  const byName = new Map(all.map((d) => [d.name, d]));
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length > 0) throw new CliError('EXPLAIN_UNKNOWN_ENTRY', `no catalog entry named ${unknown.join(', ')}`, 2);
  return names.map((n) => byName.get(n)).filter((d): d is QueryDef => d !== undefined);
}

function parseSettings(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError('EXPLAIN_BAD_SETTING', `--set expects name=value, got "${p}"`, 2);
    out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return out;
}

function parseTimeout(raw: string): number {
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 100) throw new CliError('EXPLAIN_BAD_TIMEOUT', `--timeout-ms expects an integer ≥ 100, got "${raw}"`, 2);
  return ms;
}

function writePlans(dir: string, result: AuditResult): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const e of result.report.entries) {
    const plan = result.documents.get(e.name);
    const body = { name: e.name, node: e.node, params: e.params, sql: e.sql, error: e.error, findings: e.findings, plan: plan ?? null };
    fs.writeFileSync(path.join(dir, `${e.name}.json`), `${JSON.stringify(body, null, 2)}\n`);
  }
  progressLine(`wrote ${result.report.entries.length} plan(s) to ${dir}`);
}
