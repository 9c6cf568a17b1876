// The CLI's logger: human-readable on a terminal, JSON lines otherwise, and optionally a log file (`up`
// writes its logs to <data-dir>/up.log so warnings never land in its live view: issue 16 §2).
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/** A log file larger than this at start is kept as FILE.1 (one generation), so the file stays bounded per run. */
export const LOG_FILE_ROTATE_BYTES = 10 * 1024 * 1024;

export interface CliLoggerOptions {
  /** JSON lines at `fileLevel` go to this file (created with its folder) */
  file?: string;
  fileLevel?: string;
  /** false: nothing on the terminal (the file only) */
  terminal?: boolean;
}

/** Human-readable logs on a terminal, JSON lines otherwise (for journald, log shippers, CI). */
export function cliLogger(
  level: string = process.env.EDGETWIN_LOG_LEVEL ?? 'info',
  opts: CliLoggerOptions = {},
): Logger {
  if (!opts.file) return terminalLogger(level);
  mkdirSync(dirname(opts.file), { recursive: true });
  if (existsSync(opts.file) && statSync(opts.file).size > LOG_FILE_ROTATE_BYTES)
    renameSync(opts.file, `${opts.file}.1`);
  const fileLevel = opts.fileLevel ?? 'info';
  const file = {
    level: fileLevel as pino.Level,
    stream: pino.destination({ dest: opts.file, append: true, sync: true }),
  };
  if (opts.terminal === false) return pino({ level: fileLevel }, file.stream);
  const streams: pino.StreamEntry[] = [file, { level: level as pino.Level, stream: pino.destination(2) }];
  return pino({ level: lower(level, fileLevel) }, pino.multistream(streams));
}

function terminalLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino({ level }, pino.destination(2));
}

function lower(a: string, b: string): string {
  const v = (l: string) => pino.levels.values[l] ?? 30;
  return v(a) <= v(b) ? a : b;
}
