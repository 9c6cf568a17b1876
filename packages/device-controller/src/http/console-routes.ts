// The web console on the API's port (issue 16 §1): its built files (packages/console/dist, read once at start;
// the controller never builds anything), the login that turns the token or a one-time ticket into a session
// cookie, and the ticket route `edgetwin up` uses for the link it prints.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type ConsoleSessions, SESSION_COOKIE, SESSION_TTL_MS, sessionOf } from './console-sessions.js';

/** The built console may not be bigger than this (it is read into memory). */
export const MAX_CONSOLE_BYTES = 20 * 1024 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The console's pages may load only from this controller: no outside script, style, font or connection. */
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface ConsoleRouteDeps {
  /** the built console (index.html and assets/); absent or without index.html: the page says how to build it */
  dir?: string;
  sessions: ConsoleSessions;
  apiToken: string;
  fail: (reply: FastifyReply, code: number, findings: string[]) => FastifyReply;
}

function readBuilt(dir: string | undefined): Map<string, Buffer> | string {
  if (!dir) return 'the controller was started without the console (no console directory given)';
  const files = new Map<string, Buffer>();
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        total += statSync(p).size;
        if (total > MAX_CONSOLE_BYTES) throw new Error(`${dir}: the built console is over ${MAX_CONSOLE_BYTES} bytes`);
        files.set(relative(dir, p).split('\\').join('/'), readFileSync(p));
      }
    }
  };
  try {
    walk(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `${dir} does not exist`;
    throw e;
  }
  if (!files.has('index.html')) return `${dir} has no index.html`;
  return files;
}

export function registerConsoleRoutes(app: FastifyInstance, deps: ConsoleRouteDeps): void {
  const built = readBuilt(deps.dir);

  app.get('/', (_req, reply) => reply.redirect('/console/'));

  app.get<{ Params: { '*': string } }>('/console/*', (req, reply) => {
    if (typeof built === 'string')
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(
          `The edgetwin web console is not built: ${built}.\n` +
            'Build it with `npm run build -w @edgetwin/console` (npm install does it), then restart.\n',
        );
    const path = req.params['*'] || 'index.html';
    const body = built.get(path);
    if (!body) return reply.code(404).type('text/plain; charset=utf-8').send(`no such console file: ${path}\n`);
    const ext = extname(path);
    reply
      .type(TYPES[ext] ?? 'application/octet-stream')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // hashed asset names never change; the page itself is always fetched again
      .header('cache-control', path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    return reply.send(body);
  });

  app.post('/console/login', (req, reply) => {
    const body = (req.body ?? {}) as { token?: unknown; ticket?: unknown };
    const id = deps.sessions.login(deps.apiToken, body);
    if (!id)
      return deps.fail(reply, 401, [
        '-/-/-: -: login refused: the token or the link is not right (the token is in the api-token file of the controller’s data dir; a link works once)',
      ]);
    const secure = req.protocol === 'https' ? '; Secure' : '';
    reply.header(
      'set-cookie',
      `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure}`,
    );
    return { ok: true };
  });

  app.post('/console/logout', (req, reply) => {
    const id = sessionOf(req.headers.cookie);
    if (id) deps.sessions.logout(id);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return { ok: true };
  });

  /** A one-time login ticket; needs the API's token (or a session): `edgetwin up` prints it as a link. */
  app.post('/console/tickets', async () => deps.sessions.ticket());
}
