// Runs a set of started parts until SIGINT/SIGTERM, then stops them in reverse order of start.
import type { Logger } from 'pino';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export class Lifecycle {
  private readonly parts: Stoppable[] = [];
  private stopping?: Promise<string[]>;

  constructor(private readonly logger: Logger) {}

  add(name: string, stop: () => Promise<void>): void {
    this.parts.push({ name, stop });
  }

  /** Stops every part, last started first; resolves with the names of those that stopped cleanly. */
  async stopAll(): Promise<string[]> {
    this.stopping ??= (async () => {
      const stopped: string[] = [];
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop();
          stopped.push(part.name);
        } catch (e) {
          this.logger.warn({ part: part.name, err: e }, 'failed to stop cleanly');
        }
      }
      return stopped;
    })();
    return this.stopping;
  }

  /**
   * Resolves after a signal has stopped everything. A second Ctrl-C exits at once. `say` gets one line
   * naming what was stopped (issue 16 §2: Ctrl-C says what it stopped).
   */
  untilSignal(say?: (line: string) => void): Promise<void> {
    return new Promise((resolve) => {
      let signalled = false;
      const onSignal = (sig: NodeJS.Signals) => {
        if (signalled) process.exit(130);
        signalled = true;
        this.logger.info({ signal: sig }, 'stopping');
        void this.stopAll().then((stopped) => {
          say?.(`stopped: ${stopped.join(', ') || 'nothing was running'}`);
          resolve();
        });
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
  }
}
