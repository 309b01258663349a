import type { Command } from 'commander';

/** Registers every command except `stack`; each lives in its own file. */
export function registerCommands(_program: Command): void {
  // filled in as commands land
}
