import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';

type CommandModule = { register?: (program: Command) => void };

/**
 * Registers every command file in this folder: each exports `register(program)`.
 * Discovery keeps command files independent of each other (no central list to edit).
 */
export async function registerCommands(program: Command): Promise<void> {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.endsWith('.d.ts')).sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as CommandModule;
    mod.register?.(program);
  }
}
