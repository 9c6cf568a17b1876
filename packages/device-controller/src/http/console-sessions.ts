// Browser sessions of the web console (issue 16 §1, docs/security.md): a browser cannot keep the API's bearer
// token in a header for EventSource, so it logs in once (the token, or a one-time ticket that `edgetwin up`
// prints as a link) and gets an HttpOnly, SameSite=Strict cookie naming a random session. Bounded: at most
// MAX_SESSIONS sessions and MAX_TICKETS unused tickets, each with a lifetime; the oldest goes first.
import { randomBytes } from 'node:crypto';
import { sameSecret } from '@edgetwin/api/secret-file';

export const SESSION_COOKIE = 'edgetwin_session';
export const SESSION_TTL_MS = 12 * 3600_000;
export const TICKET_TTL_MS = 3600_000;
export const MAX_SESSIONS = 64;
export const MAX_TICKETS = 16;

export class ConsoleSessions {
  private readonly sessions = new Map<string, number>();
  private readonly tickets = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session for a login with the API token or a ticket; undefined if neither is right. */
  login(apiToken: string, given: { token?: unknown; ticket?: unknown }): string | undefined {
    let ok = false;
    if (typeof given.token === 'string' && given.token !== '') ok = sameSecret(given.token, apiToken);
    else if (typeof given.ticket === 'string' && given.ticket !== '') ok = this.redeem(given.ticket);
    if (!ok) return undefined;
    const id = randomBytes(32).toString('base64url');
    put(this.sessions, id, this.now() + SESSION_TTL_MS, MAX_SESSIONS);
    return id;
  }

  logout(id: string): void {
    this.sessions.delete(id);
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const until = this.sessions.get(id);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }

  /** A one-time login ticket (for the link `up` prints), valid for TICKET_TTL_MS. */
  ticket(): { ticket: string; expiresAt: string } {
    const ticket = randomBytes(24).toString('base64url');
    const until = this.now() + TICKET_TTL_MS;
    put(this.tickets, ticket, until, MAX_TICKETS);
    return { ticket, expiresAt: new Date(until).toISOString() };
  }

  private redeem(ticket: string): boolean {
    const until = this.tickets.get(ticket);
    if (until === undefined) return false;
    this.tickets.delete(ticket);
    return until >= this.now();
  }
}

function put(map: Map<string, number>, key: string, until: number, max: number): void {
  map.set(key, until);
  while (map.size > max) map.delete(map.keys().next().value as string);
}

/** The session id in a Cookie header, if any. */
export function sessionOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
