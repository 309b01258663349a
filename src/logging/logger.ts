import pino, { type Logger } from 'pino';
import type { Config } from '../config/index.ts';

/** Paths that must never reach a log line: credentials and session tokens. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-admin-token"]',
  'password', '*.password', 'token', '*.token', 'password_hash', '*.password_hash', 'token_hash', '*.token_hash',
];

export function createLogger(config: Config, destination?: pino.DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    level: config.log.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'bgc' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination) : pino(opts);
}

export type { Logger };
