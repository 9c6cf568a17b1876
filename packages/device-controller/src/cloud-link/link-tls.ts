// TLS of the cloud link (issue 10 §2, docs/security.md): the embedded broker serves mqtts:// with the
// operator's certificate (--tls-cert/--tls-key) or, when none is given, one generated on first start into
// <data-dir>/link-tls/ (key 0600). Its SHA-256 fingerprint is printed and pinned in every join token, so
// an edge trusts exactly this certificate without a CA. Certificates are made with node:crypto alone (x509.ts):
// an ECDSA P-256 key and a SHA-256 signature, no openssl binary and no certificate library (issue 15, target 4:
// node-forge's RSA 2048 certificate took ~0.25 s of a first `up`). Certificates made before, RSA keys included,
// and an operator's own (--tls-cert/--tls-key) are read as they are.

import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readSecretFile, writeSecretFile } from '@edgetwin/api/secret-file';
import { type Extension, createCertificate, subjectOf } from './x509.js';

export interface LinkTls {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, `AA:BB:...` */
  fingerprint: string;
  /** pinned in join tokens (a self-signed certificate) */
  pinnable: boolean;
  /** the certificate was generated now */
  created: boolean;
  certFile: string;
}

/** Ten years: a generated certificate is pinned, not trusted through a CA, so it is replaced by rejoining. */
const VALID_YEARS = 10;

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * Only a self-signed certificate is pinned in join tokens: it is its own trust anchor. A certificate a CA
 * signed is verified through that CA instead (`edgetwin edge --cloud-ca`, or the system's roots).
 */
export function isSelfSigned(certPem: string): boolean {
  const c = new X509Certificate(certPem);
  return c.issuer === c.subject && c.verify(c.publicKey);
}

/** A certificate and its key (PEM). */
export interface KeyAndCert {
  cert: string;
  key: string;
}

/**
 * A new ECDSA P-256 key (node:crypto) and a SHA-256 certificate for it, with the given subject common name and
 * X.509 extensions, signed by `issuer` (its key EC or RSA) or, without one, by itself.
 */
export function issueCertificate(opts: {
  commonName: string;
  extensions: Extension[];
  validMs: number;
  issuer?: KeyAndCert;
}): KeyAndCert {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = createCertificate({
    publicKey,
    commonName: opts.commonName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + opts.validMs),
    extensions: opts.extensions,
    ...(opts.issuer ? { issuerName: subjectOf(opts.issuer.cert) } : {}),
    signerKey: opts.issuer?.key ?? privateKey,
  });
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A self-signed certificate for the given names (DNS names and IP addresses). */
export function generateLinkCert(names: string[], commonName = 'edgetwin cloud link'): KeyAndCert {
  return issueCertificate({
    commonName,
    validMs: VALID_YEARS * 365 * 24 * 3600 * 1000,
    extensions: [
      { name: 'basicConstraints', cA: false },
      // an ECDSA key signs the TLS handshake; it encrypts no key (RFC 5480 §3)
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...new Set(names)].map((n) =>
          isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n },
        ),
      },
    ],
  });
}

/**
 * The link's certificate: the given files, else <dataDir>/link-tls/{cert,key}.pem, generated on first
 * start for localhost, this host's name, the listening address and `names`. The edge bus's LAN listener
 * uses the same (with `dir` `edge-tls-<node>`): one way to make and keep a broker certificate.
 */
export function loadOrCreateLinkTls(opts: {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
  listenHost?: string;
  names?: string[];
  /** folder under dataDir (default link-tls) */
  dir?: string;
  /** the generated certificate's subject (default "edgetwin cloud link") */
  commonName?: string;
}): LinkTls {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new Error('--tls-cert and --tls-key go together');
    const cert = readFileSync(opts.certFile, 'utf8');
    const key = readSecretFile(opts.keyFile, 'TLS key');
    return {
      cert,
      key,
      fingerprint: fingerprintOf(cert),
      pinnable: isSelfSigned(cert),
      created: false,
      certFile: opts.certFile,
    };
  }
  const certFile = join(opts.dataDir, opts.dir ?? 'link-tls', 'cert.pem');
  const keyFile = join(opts.dataDir, opts.dir ?? 'link-tls', 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    const key = readSecretFile(keyFile, 'TLS key');
    return { cert, key, fingerprint: fingerprintOf(cert), pinnable: isSelfSigned(cert), created: false, certFile };
  }
  const names = ['localhost', '127.0.0.1', '::1', hostname(), ...(opts.names ?? [])];
  if (opts.listenHost && opts.listenHost !== '0.0.0.0' && opts.listenHost !== '::') names.push(opts.listenHost);
  const { cert, key } = generateLinkCert(names, opts.commonName);
  writeSecretFile(keyFile, key);
  writeSecretFile(certFile, cert);
  return { cert, key, fingerprint: fingerprintOf(cert), pinnable: true, created: true, certFile };
}
