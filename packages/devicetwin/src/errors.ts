// The one error type of the twin. `code` is the KubeEdge result code the MQTT API replies with, so a
// rejection raised anywhere (store, algorithm, local interface) reaches the client unchanged.

/** 413: a limit of what one device may hold; 429: too many requests of one device queued (docs/twin.md). */
export type TwinErrorCode = 400 | 404 | 409 | 413 | 429 | 500;

export class TwinError extends Error {
  readonly code: TwinErrorCode;
  constructor(code: TwinErrorCode, message: string) {
    super(message);
    this.name = 'TwinError';
    this.code = code;
  }
}

export function isTwinError(e: unknown): e is TwinError {
  return e instanceof TwinError;
}
