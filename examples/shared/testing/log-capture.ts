// Test support: a real pino logger whose lines the test can wait on ("the app says it switched to
// manual"), instead of guessing how long the app needs.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface LogCapture {
  logger: Logger;
  readonly lines: LogLine[];
  /** resolves with the first line (already logged or still to come) whose msg includes `text` */
  waitFor(text: string, timeoutMs?: number): Promise<LogLine>;
}

export function captureLogs(level: pino.Level = 'debug'): LogCapture {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      }
      for (const w of [...waiters]) w();
      cb();
    },
  });
  return {
    logger: pino({ level }, stream),
    lines,
    waitFor(text, timeoutMs = 5000) {
      const find = () => lines.find((l) => typeof l.msg === 'string' && l.msg.includes(text));
      const found = find();
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const check = () => {
          const l = find();
          if (!l) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(l);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no log line containing "${text}" within ${timeoutMs} ms; got: ${lines.map((l) => l.msg).join(' | ')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
  };
}
