import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../../config/index.ts';
import { Database } from '../../../db/database.ts';
import { isPresetName, PRESET_NAMES, PRESETS } from '../../seed/presets.ts';
import { runSeed, type SeedProgress } from '../../seed/run-seed.ts';
import { SeedError } from '../../seed/seed-error.ts';
import { printJson, printTable, progressLine } from '../output.ts';

export interface SeedCliOptions { preset: string; seed: string; force?: boolean; json?: boolean; anchor?: string }

/** A cli-progress bar on stderr (stdout stays clean for --json); plain lines when stderr is not a terminal. */
function barProgress(): SeedProgress {
  const bar = new cliProgress.SingleBar({
    format: '{bar} {percentage}% | {value}/{total} rows | {table} | {duration_formatted} elapsed, ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
    noTTYOutput: !process.stderr.isTTY,
    notTTYSchedule: 5_000,
  }, cliProgress.Presets.shades_classic);
  let active = false;
  let table = '';
  let done = 0;
  let total = 0;
  return {
    start: (t) => { total = t; bar.start(t, 0, { table: 'starting' }); active = true; },
    rows: (t, n) => {
      done += n;
      // Once every row is in, the lanes still build indexes and ANALYZE: say so.
      const label = done >= total ? 'all rows loaded; building indexes, ANALYZE' : t;
      if (label !== table) { table = label; bar.increment(n, { table: label }); } else bar.increment(n);
    },
    phase: (message) => { if (!active) progressLine(message); },
    stop: () => { if (active) bar.stop(); active = false; },
  };
}

export function parseOptions(opts: SeedCliOptions): { preset: (typeof PRESET_NAMES)[number]; seed: number; anchorMs: number | undefined } {
  if (!isPresetName(opts.preset)) throw new SeedError('SEED_INVALID_OPTION', `--preset must be one of ${PRESET_NAMES.join(', ')}`, { exitCode: 2 });
  const seed = Number(opts.seed);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new SeedError('SEED_INVALID_OPTION', '--seed must be an integer between 0 and 4294967295', { exitCode: 2 });
  let anchorMs: number | undefined;
  if (opts.anchor !== undefined) {
    // A time without a zone would be read in this machine's zone: the same --anchor would give
    // other rows on another machine (a date alone is UTC).
    if (/T/i.test(opts.anchor) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(opts.anchor)) {
      throw new SeedError('SEED_INVALID_OPTION', `--anchor ${opts.anchor} has no time zone; end it with Z or ±hh:mm, e.g. 2026-01-01T00:00:00Z`, { exitCode: 2 });
    }
    anchorMs = Date.parse(opts.anchor);
    if (Number.isNaN(anchorMs)) throw new SeedError('SEED_INVALID_OPTION', '--anchor must be an ISO date-time, e.g. 2026-01-01T00:00:00Z', { exitCode: 2 });
  }
  return { preset: opts.preset, seed, anchorMs };
}

export function register(program: Command): void {
  const sizes = PRESET_NAMES.map((p) => `${p}: ${PRESETS[p].users.toLocaleString('en-US')} users, ${PRESETS[p].messages.toLocaleString('en-US')} messages, ${PRESETS[p].months} months`).join('; ');
  program.command('seed')
    .description(`Load a deterministic demo dataset with COPY (${sizes})`)
    .requiredOption('--preset <name>', `dataset size: ${PRESET_NAMES.join('|')}`)
    .option('--seed <n>', 'PRNG seed; the same seed and anchor give the same data', '42')
    .option('--force', 'empty the seeded tables first if the database has data')
    .option('--anchor <iso>', 'end of the generated history (default: the start of the current UTC hour)')
    .option('--json', 'machine-readable summary on stdout')
    .action(async (raw: SeedCliOptions) => {
      const { preset, seed, anchorMs } = parseOptions(raw);
      const config = loadConfig();
      const db = new Database(config, { applicationName: 'bgc-seed', lazy: true, session: true });
      try {
        const result = await runSeed(db, { preset, seed, force: raw.force ?? false, anchorMs, monthsAhead: config.partitions.premakeMonths }, barProgress());
        if (raw.json) printJson(result);
        else {
          printTable(Object.entries(result.rows).map(([table, rows]) => ({ table, rows })));
          progressLine(`seeded preset ${result.preset} (seed ${result.seed}, history ${result.historyStart} .. ${result.anchor}) in ${result.seconds} s`);
        }
      } finally {
        await db.close();
      }
    });
}
