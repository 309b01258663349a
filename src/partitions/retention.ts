import { archiveStepStatements, currentDatabase, dropStep, exportStep, verifyStep } from './archive-steps.ts';
import { detachStep, detachStepStatements, foreignKeysOf } from './detach.ts';
import { PartitionError } from './errors.ts';
import type { LedgerRow, LedgerState } from './ledger.ts';
import type { PartitionedTable } from './naming.ts';
import type { PlannedStatement, StepContext } from './types.ts';

/**
 * The retention cycle as a state machine over the ledger. Every step reads the ledger row,
 * does its work idempotently (it checks the catalog rather than trusting that it has not
 * run before), and commits the next state. A crash between steps — or inside one — leaves
 * a state from which the same step, run again, completes.
 *
 *   detaching → detached   DETACH CONCURRENTLY (or FINALIZE), drop FKs, move comments, count
 *   detached  → exported   file: gzip COPY + manifest; schema: SET SCHEMA archive
 *   exported  → verified   read the archive back and reproduce the ledger's numbers
 *   verified  → dropped    DROP the detached table (file mode only)
 */
const STEPS: Partial<Record<LedgerState, (ctx: StepContext, row: LedgerRow) => Promise<LedgerRow>>> = {
  detaching: detachStep,
  detached: exportStep,
  exported: verifyStep,
  verified: dropStep,
};

/** Runs the cycle of one partition from its current ledger state to 'dropped'. */
export async function advanceCycle(ctx: StepContext, start: LedgerRow): Promise<LedgerRow> {
  let row = start;
  for (let guard = 0; row.state !== 'dropped'; guard++) {
    const step = STEPS[row.state];
    if (!step || guard > 4) throw new PartitionError('PARTITION_STATE', `${row.partition_name}: no retention step from state ${row.state}`);
    row = await step(ctx, row);
    await ctx.hooks.afterTransition?.(row.partition_name, row.state);
  }
  return row;
}

/** Every statement the rest of the cycle will run, from `state` on (for the dry run). */
export async function cycleStatements(
  ctx: Pick<StepContext, 'client' | 'config'>,
  row: { partition_name: string; parent: PartitionedTable; archive_mode: 'file' | 'schema' | null },
  state: LedgerState,
): Promise<PlannedStatement[]> {
  const out: PlannedStatement[] = [];
  if (state === 'live' || state === 'restored' || state === 'detaching') {
    const fks = await foreignKeysOf(ctx.client, row.partition_name);
    out.push(...detachStepStatements(row.parent, row.partition_name, fks));
    out.push(...archiveStepStatements(row, ctx.config.dataDir, await currentDatabase(ctx.client), 'detached'));
  } else if (state === 'detached' || state === 'exported' || state === 'verified') {
    out.push(...archiveStepStatements(row, ctx.config.dataDir, await currentDatabase(ctx.client), state));
  }
  return out;
}
