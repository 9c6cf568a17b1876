// The one error type of the twin. `code` is the KubeEdge result code the MQTT API replies with, so a
// rejection raised anywhere (store, algorithm, local interface) reaches the client unchanged.

export type TwinErrorCode = 400 | 404 | 409 | 500;

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
