// Answers to HTTP-style authentication challenges (RFC 7617 Basic, RFC 7616/2617 Digest with MD5 and qop
// auth), shared by the snapshot fetch (HTTP) and the RTSP DESCRIBE health check (issue 13): cameras serve
// snapshots behind Basic (ipycam) or Digest (most vendors), and RTSP behind Digest.
import { createHash, randomBytes } from 'node:crypto';
import type { Credentials } from './soap.js';

export interface Challenge {
  scheme: 'basic' | 'digest';
  params: Record<string, string>;
}

/** The strongest challenge we can answer among WWW-Authenticate values (Digest over Basic), or undefined. */
export function parseChallenges(headers: string[]): Challenge | undefined {
  const found: Challenge[] = [];
  for (const h of headers) {
    // several challenges may share one header: split before each scheme name
    for (const part of h.split(/,\s*(?=(?:Basic|Digest)\s)/i)) {
      const m = /^\s*(Basic|Digest)\s*(.*)$/is.exec(part);
      if (!m) continue;
      const params: Record<string, string> = {};
      for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g))
        params[(p[1] ?? '').toLowerCase()] = p[2] ?? p[3] ?? '';
      found.push({ scheme: (m[1] ?? '').toLowerCase() as Challenge['scheme'], params });
    }
  }
  return (
    found.find((c) => c.scheme === 'digest' && (c.params.algorithm ?? 'MD5').toUpperCase() === 'MD5') ??
    found.find((c) => c.scheme === 'basic')
  );
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** The Authorization header answering `challenge` for `method` on `uri` (the request-target). */
export function authorization(challenge: Challenge, cred: Credentials, method: string, uri: string): string {
  if (challenge.scheme === 'basic')
    return `Basic ${Buffer.from(`${cred.userName}:${cred.password}`, 'utf8').toString('base64')}`;
  const { realm = '', nonce = '', opaque, qop } = challenge.params;
  const ha1 = md5(`${cred.userName}:${realm}:${cred.password}`);
  const ha2 = md5(`${method}:${uri}`);
  const parts = [`username="${cred.userName}"`, `realm="${realm}"`, `nonce="${nonce}"`, `uri="${uri}"`];
  if (
    qop
      ?.split(',')
      .map((q) => q.trim())
      .includes('auth')
  ) {
    const cnonce = randomBytes(8).toString('hex');
    const nc = '00000001';
    parts.push(`qop=auth`, `nc=${nc}`, `cnonce="${cnonce}"`);
    parts.push(`response="${md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`)}"`);
  } else parts.push(`response="${md5(`${ha1}:${nonce}:${ha2}`)}"`);
  parts.push('algorithm=MD5');
  if (opaque !== undefined) parts.push(`opaque="${opaque}"`);
  return `Digest ${parts.join(', ')}`;
}
