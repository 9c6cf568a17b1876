// Per-request options for @kubernetes/client-node calls (issue 14): a deadline on every request but watches,
// and the content type of a patch. A request on a connection that died silently (a frozen network, an API
// server stopped mid-answer) would otherwise wait for the kernel's TCP timeouts, minutes, while it holds a
// status-writer slot or the leader's renewal.

import { Observable, type ObservableMiddleware, PatchStrategy, setHeaderMiddleware } from '@kubernetes/client-node';

export interface RequestOptions {
  middleware: ObservableMiddleware[];
  middlewareMergeStrategy: 'append';
}

/** Options giving each request `timeoutMs`, and a patch its content type. */
export function requestOptions(timeoutMs: number, patch?: 'merge' | 'json'): RequestOptions {
  const middleware: ObservableMiddleware[] = [
    {
      pre: (ctx) => {
        ctx.setSignal(AbortSignal.timeout(timeoutMs));
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    },
  ];
  if (patch === 'merge') middleware.push(setHeaderMiddleware('Content-Type', PatchStrategy.MergePatch));
  if (patch === 'json') middleware.push(setHeaderMiddleware('Content-Type', PatchStrategy.JsonPatch));
  return { middleware, middlewareMergeStrategy: 'append' };
}
