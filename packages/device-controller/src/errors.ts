// Errors of the sources that callers act on (the HTTP API turns them into 409 and 404 findings).

import type { SourceKind } from './source.js';

export interface ObjectRef {
  kind: SourceKind;
  namespace: string;
  name: string;
}

/** An apply that named a resourceVersion which is no longer the stored one (someone else wrote first). */
export class ConflictError extends Error {
  constructor(
    readonly ref: ObjectRef,
    readonly expected: string,
    readonly actual: string | undefined,
  ) {
    super(
      `${ref.kind}/${ref.namespace}/${ref.name}: resourceVersion ${expected} is stale ` +
        (actual === undefined ? '(the object does not exist)' : `(stored: ${actual})`),
    );
    this.name = 'ConflictError';
  }
}

export class NotFoundError extends Error {
  constructor(readonly ref: ObjectRef) {
    super(`${ref.kind}/${ref.namespace}/${ref.name} not found`);
    this.name = 'NotFoundError';
  }
}
