import { connectionHolder, describeHolder, findListener, pgSocketLockHolder, portTaken } from './listeners.ts';

/** A port the stack is about to listen on. */
export interface PortClaim {
  readonly port: number;
  /** What would listen there: "primary", "redis", "API (PORT)", ... */
  readonly name: string;
  /** This checkout's own server already listens there: nothing to check. */
  readonly ours: boolean;
  /** A PostgreSQL node: its Unix socket lock file in /tmp must be free too. */
  readonly postgres?: boolean;
}

/** A port that keeps the stack from starting, and why. */
export interface BusyPort {
  readonly port: number;
  readonly name: string;
  readonly pid: number | null;
  readonly detail: string;
}

/** `bgc stack up` refused before starting anything: the ports, who holds them, the ways out. */
export class StackPortBusyError extends Error {
  readonly code = 'STACK_PORT_BUSY';
  constructor(readonly busy: readonly BusyPort[], waysOut: string) {
    const lines = busy.map((b) => `  - port ${b.port} (${b.name}): ${b.detail}`);
    super(`nothing was started: ${busy.length === 1 ? 'a port this stack needs is' : `${busy.length} ports this stack needs are`} taken\n${lines.join('\n')}\n${waysOut}`);
    this.name = 'StackPortBusyError';
  }
}

/** Which claimed ports someone else holds (all checked at once: read-only, no bind). */
export async function findBusyPorts(claims: readonly PortClaim[]): Promise<BusyPort[]> {
  const found = await Promise.all(claims.filter((c) => !c.ours).map(async (c): Promise<BusyPort | null> => {
    const holder = await findListener(c.port) ?? (c.postgres ? pgSocketLockHolder(c.port) : null) ?? connectionHolder(c.port);
    return holder === null ? null : { port: c.port, name: c.name, pid: holder.pid, detail: `in use by ${describeHolder(holder)}` };
  }));
  return found.filter((b): b is BusyPort => b !== null);
}

/** The first offset (in steps of 100, other than the current one) whose ports are all free. */
export function suggestOffset(current: number, portsAt: (offset: number) => readonly number[], max = 1000): number | null {
  for (let offset = 100; offset <= max; offset += 100) {
    if (offset !== current && portsAt(offset).every((p) => !portTaken(p) && pgSocketLockHolder(p) === null && connectionHolder(p) === null)) return offset;
  }
  return null;
}

/** The two ways out, with a concrete free offset when there is one. */
export function waysOut(busy: readonly BusyPort[], suggestion: { offset: number; ports: readonly number[] } | null): string {
  const pids = [...new Set(busy.map((b) => b.pid).filter((p): p is number => p !== null))];
  const stop = pids.length > 0 ? ` (kill ${pids.join(' ')})` : '';
  const move = suggestion === null
    ? 'set BGC_STACK_PORT_OFFSET (0-1000, steps of 100 keep stacks apart) to a value whose ports are free'
    : `e.g. BGC_STACK_PORT_OFFSET=${suggestion.offset} npm start (its ports ${suggestion.ports.join(', ')} are free now)`;
  return 'Two ways out:\n'
    + `  1. stop ${pids.length > 1 ? 'those processes' : 'that process'}${stop}; if it is another checkout's stack, run \`npx bgc stack down\` in that checkout, or\n`
    + `  2. move this stack: ${move}.`;
}
