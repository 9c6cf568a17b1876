// The mapper REST API listener (issue 17, KubeEdge mapper-framework's port 7777): plain HTTP on loopback by
// default; beyond loopback it refuses to start without a bearer token and TLS, like the project's other
// listeners. Routes and response shapes live in routes.ts; this file only listens and authenticates.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { MapperRuntime } from '../runtime.js';
import { handle } from './routes.js';

/** KubeEdge mapper-framework's default `common.http_port`. */
export const DEFAULT_REST_PORT = 7777;
/** How long a method write waits for the device to confirm the value before answering 504. */
export const DEFAULT_REST_WRITE_TIMEOUT_MS = 10_000;

export interface RestOptions {
  /** default 7777; 0 = any free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** bearer token every request must carry; required beyond loopback. Read it from a file or env, never argv. */
  token?: string;
  /** PEM files; required beyond loopback */
  tls?: { certFile: string; keyFile: string };
  writeTimeoutMs?: number;
}

export interface RestServer {
  /** http(s)://host:port */
  readonly url: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function sameToken(expected: string, given: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(expected), digest(given));
}

/** Serves the REST API for every device of the given mappers (one per process, or all in-process ones). */
export async function startRestServer(
  runtimes: () => MapperRuntime[],
  opts: RestOptions,
  logger: Logger,
): Promise<RestServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_REST_PORT;
  if (!isLoopback(host) && (!opts.token || !opts.tls))
    throw new Error(
      `mapper REST API on ${host}: listening beyond loopback needs a token (EDGETWIN_MAPPER_REST_TOKEN or --rest-token-file) and TLS (--rest-tls-cert, --rest-tls-key)`,
    );
  const log = logger.child({ part: 'mapper-rest' });
  const writeTimeoutMs = opts.writeTimeoutMs ?? DEFAULT_REST_WRITE_TIMEOUT_MS;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (opts.token) {
      const auth = req.headers.authorization ?? '';
      const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!given || !sameToken(opts.token, given)) {
        res
          .writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' })
          .end('Unauthorized: this mapper REST API needs "Authorization: Bearer <token>"\n');
        return;
      }
    }
    // the body is never read (every route carries its data in the path): drain it so keep-alive works
    req.resume();
    handle(req, runtimes(), writeTimeoutMs).then(
      (r) => {
        res.writeHead(r.status, { 'content-type': r.contentType }).end(r.body);
      },
      (e: Error) => {
        log.error({ err: e.message, url: req.url }, 'REST request failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`Internal error: ${e.message}\n`);
      },
    );
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }, listener)
    : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new Error(
          `mapper REST API cannot listen on ${host}:${port}: ${e.message} (each mapper process needs its own --rest-port)`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const url = `${opts.tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  log.info({ url, auth: opts.token ? 'token' : 'none (loopback)' }, 'serving the mapper REST API');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
