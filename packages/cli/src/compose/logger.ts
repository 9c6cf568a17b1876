import pino, { type Logger } from 'pino';

/** Human-readable logs on a terminal, JSON lines otherwise (for journald, log shippers, CI). */
export function cliLogger(level: string = process.env.EDGETWIN_LOG_LEVEL ?? 'info'): Logger {
  if (process.stderr.isTTY) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino({ level }, pino.destination(2));
}
