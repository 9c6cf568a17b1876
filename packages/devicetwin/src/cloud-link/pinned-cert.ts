// Trust on the first join, checked (issue 10 §2, docs/security.md): the join token carries the SHA-256
// fingerprint of the cloud link's certificate. Before sending anything, the edge opens a TLS connection,
// reads the certificate the cloud presents and keeps it only if its fingerprint is the pinned one; from
// then on the edge dials with exactly that certificate as its CA. A different certificate (another
// server, a man in the middle) is refused and the credentials are never sent to it.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

export class PinMismatchError extends Error {
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `the cloud at ${url} presented a certificate with fingerprint ${actual}, but the join token pins ${expected}: ` +
        'refusing to send this node’s credentials (a wrong URL, a replaced certificate, or someone in between)',
    );
    this.name = 'PinMismatchError';
  }
}

/** The PEM certificate the server at an mqtts:// URL presents, if its fingerprint is `fingerprint`. */
export function fetchPinnedCert(url: string, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  const u = new URL(url);
  if (u.protocol !== 'mqtts:' && u.protocol !== 'ssl:' && u.protocol !== 'tls:')
    return Promise.reject(
      new Error(`the join token pins a TLS certificate but --cloud is ${url}: use mqtts:// (the cloud serves TLS)`),
    );
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    // no trust decision is made by TLS here: the fingerprint is the decision, and nothing is written
    const socket = tls.connect({
      host,
      port: Number(u.port || 8883),
      rejectUnauthorized: false,
      ...(host && !/^[\d.:]+$/.test(host) ? { servername: host } : {}),
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no TLS handshake with ${url} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      const pem = `-----BEGIN CERTIFICATE-----\n${raw
        .toString('base64')
        .replace(/(.{64})/g, '$1\n')
        .trim()}\n-----END CERTIFICATE-----\n`;
      const actual = new X509Certificate(pem).fingerprint256;
      if (actual !== fingerprint.toUpperCase()) reject(new PinMismatchError(url, fingerprint, actual));
      else resolve(pem);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
