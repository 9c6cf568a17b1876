/** Exponential backoff: base, 2*base, 4*base ... capped at max. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Resolves after ms, or at once when signal aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Rejects with `onTimeout()` if p has not settled within ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Resolves when p settles (its outcome ignored) or when signal aborts, whichever comes first: a step of a
 * stop that may talk to a broker or device gone silent, so the stop as a whole keeps its bound.
 */
export function untilSettledOr(p: Promise<unknown>, signal: AbortSignal): Promise<void> {
  // handled even when the deadline has passed: its late rejection must not crash the process
  const settled = p.then(
    () => undefined,
    () => undefined,
  );
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void settled.then(done);
  });
}
