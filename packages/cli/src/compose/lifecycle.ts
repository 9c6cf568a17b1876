// Runs a set of started parts until SIGINT/SIGTERM, then stops them in reverse order of start.
import type { Logger } from 'pino';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export class Lifecycle {
  private readonly parts: Stoppable[] = [];
  private stopping?: Promise<void>;

  constructor(private readonly logger: Logger) {}

  add(name: string, stop: () => Promise<void>): void {
    this.parts.push({ name, stop });
  }

  async stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop();
        } catch (e) {
          this.logger.warn({ part: part.name, err: e }, 'failed to stop cleanly');
        }
      }
    })();
    return this.stopping;
  }

  /** Resolves after a signal has stopped everything. A second Ctrl-C exits at once. */
  untilSignal(): Promise<void> {
    return new Promise((resolve) => {
      let signalled = false;
      const onSignal = (sig: NodeJS.Signals) => {
        if (signalled) process.exit(130);
        signalled = true;
        this.logger.info({ signal: sig }, 'stopping');
        void this.stopAll().then(resolve);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
  }
}
