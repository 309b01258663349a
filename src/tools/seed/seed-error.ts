export type SeedErrorCode = 'SEED_NOT_EMPTY' | 'SEED_NEEDS_SUPERUSER' | 'SEED_COUNT_MISMATCH' | 'SEED_INVALID_OPTION' | 'SEED_RUNNING';

/** A seed failure with a code; the CLI prints `[code] message` and exits with `exitCode`. */
export class SeedError extends Error {
  readonly code: SeedErrorCode;
  readonly exitCode: number;
  constructor(code: SeedErrorCode, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SeedError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}
