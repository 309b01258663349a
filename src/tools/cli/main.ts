import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../config/index.ts';
import { registerCommands } from './commands/index.ts';

const program = new Command();
program
  .name('bgc')
  .description('BGC Replica backend: local stack, migrations, data, server, audits and benchmarks')
  .showHelpAfterError()
  .exitOverride();

await registerCommands(program);

function describe(err: unknown): { message: string; code: number } {
  if (err instanceof CommanderError) return { message: '', code: err.exitCode };
  if (err instanceof ConfigError) return { message: err.message, code: 2 };
  if (err instanceof Error) {
    const code = 'code' in err && typeof err.code === 'string' ? `[${err.code}] ` : '';
    return { message: `bgc: ${code}${err.message}`, code: 'exitCode' in err && typeof err.exitCode === 'number' ? err.exitCode : 1 };
  }
  return { message: `bgc: ${String(err)}`, code: 1 };
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { message, code } = describe(err);
  if (message) process.stderr.write(`${message}\n`);
  process.exitCode = code;
}
