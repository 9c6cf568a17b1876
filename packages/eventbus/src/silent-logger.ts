import type { Logger } from 'pino';

/** A logger that drops everything: library code stays quiet unless the caller passes a logger. */
export const silentLogger: Logger = {
  level: 'silent',
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silentLogger;
  },
} as unknown as Logger;
