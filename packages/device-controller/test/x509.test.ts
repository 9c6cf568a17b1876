// Certificates made with node:crypto alone (issue 15, target 4; src/cloud-link/x509.ts): what TLS peers check
// in them reads back as written: names (DNS, IPv4, IPv6), validity past 2049, the chain to an issuer, EC and RSA
// signers. The TLS handshakes that use them are in cloud-link-tls.test.ts and cloud-link-mtls.test.ts.
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateLinkCert, issueCertificate } from '../src/cloud-link/link-tls.js';
import { createCertificate, subjectOf } from '../src/cloud-link/x509.js';

const DAY = 24 * 3600 * 1000;

describe('certificates made with node:crypto', () => {
  it('a link certificate names its hosts and addresses, is self-signed and serves TLS only', () => {
    const { cert, key } = generateLinkCert([
      'localhost',
      '127.0.0.1',
      '::1',
      'fd00::a:1',
      '::ffff:10.0.0.7',
      'gw-1.plant.local',
    ]);
    const x = new X509Certificate(cert);
    expect(x.subject).toBe('CN=edgetwin cloud link');
    expect(x.issuer).toBe(x.subject);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:A:1, IP Address:0:0:0:0:0:FFFF:A00:7, DNS:gw-1.plant.local',
    );
    expect(x.checkHost('gw-1.plant.local')).toBe('gw-1.plant.local');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(x.ca).toBe(false);
    expect(x.publicKey.asymmetricKeyType).toBe('ec');
    expect(x.checkPrivateKey(createPrivateKey(key))).toBe(true);
  });

  it('a certificate issued by a CA chains to it; validity past 2049 is written as GeneralizedTime', () => {
    const ca = issueCertificate({
      commonName: 'plant nodes CA',
      validMs: 40 * 365 * DAY,
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true },
      ],
    });
    const leaf = issueCertificate({
      commonName: 'node-7',
      validMs: DAY,
      issuer: ca,
      extensions: [{ name: 'extKeyUsage', clientAuth: true }],
    });
    const caX = new X509Certificate(ca.cert);
    const leafX = new X509Certificate(leaf.cert);
    expect(caX.ca).toBe(true);
    expect(new Date(caX.validTo).getUTCFullYear()).toBeGreaterThanOrEqual(2066);
    expect(leafX.issuer).toBe('CN=plant nodes CA');
    expect(leafX.checkIssued(caX)).toBe(true);
    expect(leafX.verify(caX.publicKey)).toBe(true);
    expect(leafX.verify(new X509Certificate(leaf.cert).publicKey)).toBe(false);
    // the issuer field holds the CA's subject, byte for byte (what TLS peers match a chain by)
    expect(leafX.raw.includes(subjectOf(ca.cert))).toBe(true);
    expect(subjectOf(leaf.cert).equals(subjectOf(ca.cert))).toBe(false);
  });

  it('an RSA key signs too (an operator CA made before, or elsewhere); other key types are refused by name', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = createCertificate({
      publicKey: rsa.publicKey,
      commonName: 'old CA',
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      extensions: [{ name: 'basicConstraints', cA: true }],
      signerKey: rsa.privateKey,
    });
    const x = new X509Certificate(cert);
    expect(x.verify(rsa.publicKey)).toBe(true);
    expect(x.ca).toBe(true);
    const ed = generateKeyPairSync('ed25519');
    expect(() =>
      createCertificate({
        publicKey: ed.publicKey,
        commonName: 'x',
        notBefore: new Date(),
        notAfter: new Date(Date.now() + DAY),
        extensions: [],
        signerKey: ed.privateKey,
      }),
    ).toThrow(/ed25519 key .*EC or RSA/);
  });
});
