// Who may use the controller's HTTP API (issue 10 §3, docs/security.md): every request but GET /healthz and /livez
// carries `Authorization: Bearer <token>`, and every request names, in its Host header, a name this
// controller listens on (the defence against DNS rebinding: a web page whose own name resolves to
// 127.0.0.1 still sends its own name as Host, and is refused).
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { sameSecret } from '@edgetwin/api/secret-file';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ConsoleSessions, sessionOf } from './console-sessions.js';

/** Paths anyone may call: liveness probes carry no token; the console's page and its login hold no data. */
export const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/', '/console/login']);

/** The web console's static files (its page, scripts, styles, icon): public, they hold no data. */
export const PUBLIC_PREFIX = '/console/';

/** Header a browser session must send with every request that changes something (a CSRF guard). */
export const CONSOLE_HEADER = 'x-edgetwin-console';

export interface ApiAuthOptions {
  /** the bearer token every request must carry */
  token: string;
  /** the address the API listens on (a name in it is allowed as Host) */
  listenHost: string;
  /** further names clients use to reach the API (a Service name, a DNS name in front of it) */
  names?: readonly string[];
  /** where the token lives, named in the 401 so the user knows where to look */
  tokenHint?: string;
  /** browser sessions of the web console: a valid session cookie stands for the token */
  sessions?: ConsoleSessions;
}

/** The names a Host header may carry. IP literals are always allowed: rebinding needs a DNS name. */
export function allowedHostNames(listenHost: string, names: readonly string[] = []): Set<string> {
  const out = new Set<string>(['localhost', hostname().toLowerCase()]);
  if (!isIP(listenHost)) out.add(listenHost.toLowerCase());
  for (const n of names) out.add(n.toLowerCase());
  return out;
}

/** The name part of a Host header (`name`, `name:port`, `[v6]:port`), lower-cased. */
export function hostNameOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

export function installApiAuth(app: FastifyInstance, opts: ApiAuthOptions): void {
  const allowed = allowedHostNames(opts.listenHost, opts.names);
  const where = opts.tokenHint ?? 'the token file in the controller’s data dir';
  const refuse = (reply: FastifyReply, code: number, message: string) =>
    reply
      .code(code)
      .header('www-authenticate', 'Bearer realm="edgetwin"')
      .send({ findings: [`-/-/-: -: ${message}`] });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const host = req.headers.host;
    const name = host ? hostNameOf(host) : '';
    if (!name || (!isIP(name) && !allowed.has(name)))
      return reply.code(421).send({
        findings: [
          `-/-/-: -: Host "${host ?? ''}" is not a name this controller answers to ` +
            `(allowed: IP addresses, ${[...allowed].join(', ')}; add one with --api-name)`,
        ],
      });
    const path = req.url.split('?')[0] ?? '';
    if (PUBLIC_PATHS.has(path) || (path.startsWith(PUBLIC_PREFIX) && req.method === 'GET')) return;
    const auth = req.headers.authorization;
    if (!auth && opts.sessions?.valid(sessionOf(req.headers.cookie))) {
      // The cookie is SameSite=Strict; a change must also carry a header no cross-site form can set.
      if (req.method === 'GET' || req.headers[CONSOLE_HEADER] === '1') return;
      return refuse(reply, 403, `forbidden: ${req.method} ${path} from the console needs the ${CONSOLE_HEADER} header`);
    }
    if (!auth)
      return refuse(
        reply,
        401,
        `unauthorized: ${req.method} ${path} needs "Authorization: Bearer <token>" (the token is ${where}; ` +
          'the edgetwin CLI finds it through --data-dir, EDGETWIN_TOKEN, EDGETWIN_TOKEN_FILE or EDGETWIN_CONFIG)',
      );
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m?.[1] || !sameSecret(m[1], opts.token))
      return refuse(
        reply,
        401,
        `unauthorized: the bearer token of ${req.method} ${path} is not this controller’s (${where})`,
      );
  });
}
