/** An event-bus failure a user can act on; the message names the broker URL and what went wrong. */
export class BusError extends Error {
  override readonly name = 'BusError';
  constructor(
    message: string,
    readonly url: string,
    readonly reason:
      | 'unreachable'
      | 'timeout'
      | 'refused-credentials'
      | 'refused'
      | 'closed'
      | 'subscribe-refused'
      | 'publish-failed'
      | 'invalid',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
